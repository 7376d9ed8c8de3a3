"""Worker lanes, with real worker processes on SQLite and PostgreSQL: deliveries and jobs run side by side on
many threads, yet every channel keeps its order and pace, every run its order, every judgment one PATCH, and
a killed or stopped worker loses nothing."""

from __future__ import annotations

import signal
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from relay.app import create_app
from relay.clients.deadline import DeadlinePassed, Stopping, bounded, deadline
from relay.clients.gate import GateError
from relay.clients.slack import build_client
from relay.commands.reports import PENDING_JOB, STATUS_JOB
from relay.config import Settings
from relay.models import ApproverPolicy, RelayRules
from relay.services import Services
from relay.store import (
    DECIDED,
    IN_FLIGHT,
    LOST,
    PENDING,
    RECEIVED,
    SENDING,
    SENT,
    STALE,
    DeliveryDraft,
    Store,
    migrate,
)
from relay.wiring import build_services, feature_handlers
from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.judgment_world import RELAY_IDENTITY, STAGE_ID
from tests.processes import Relay, relay_environment, stop_all, wait_until
from tests.slack_requests import SIGNING_SECRET, block_actions, form, signed

ECHO_TOKEN = "lanes-echo-token"
STEPS = 3


@pytest.fixture
def database(db_url: str) -> Iterator[Store]:
    store = Store.from_url(db_url)
    migrate.upgrade(store)
    yield store
    store.engine.dispose()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    """Starts `slackops-relay worker` processes; stops whatever is still running afterwards."""
    started: list[Relay] = []

    def start(**env: str) -> Relay:
        relay = Relay(["worker"], relay_environment(RELAY_LOG_LEVEL="WARNING", **env),
                      tmp_path / f"worker-{len(started)}.log")
        started.append(relay)
        return relay

    start.started = started
    yield start
    stop_all(started)


VIEWER = "U0LANESVIEWER"  # the person the status jobs answer; the policy lets them see every application


def viewer_config(tmp_path: Path, slack: FakeSlack) -> str:
    """A rules file that lets VIEWER see every application, with VIEWER known to Slack."""
    slack.add_user(VIEWER, email="viewer@example.com")
    config = tmp_path / "viewer.yaml"
    config.write_text(f"cancelers:\n  '*':\n    users: [{VIEWER}]\n")
    return str(config)


def slack_env(slack: FakeSlack, store: Store, **env: str) -> dict[str, str]:
    url = store.engine.url.render_as_string(hide_password=False)
    return {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url, "RELAY_DATABASE_URL": url,
            "RELAY_ECHO_TOKEN": ECHO_TOKEN, **env}


def run_with_steps(index: int, channel: str) -> dict[str, Any]:
    return events.run_with_steps(index, channel, steps=STEPS, prefix="01LANES")


def queue_runs(store: Store, runs: int, channels: int) -> None:
    """Queue `runs` runs (starting, a reply per step, complete) over `channels` channels, through the
    webhook of a relay that sends nothing itself."""
    settings = Settings(database_url=str(store.engine.url), echo_token=ECHO_TOKEN)
    client = create_app(services=Services(handlers=feature_handlers(), settings=settings, store=store,
                                          poster=None)).test_client()
    for index in range(runs):
        run = run_with_steps(index, f"#lane-{index % channels}")
        steps = [events.stage_event("complete", run, stage_id=stage["id"]) for stage in run["stages"]]
        for event in (events.pipeline_event("starting", run), *steps, events.pipeline_event("complete", run)):
            headers = {"Authorization": f"Bearer {ECHO_TOKEN}"}
            assert client.post("/echo/events", json=event, headers=headers).status_code == 202


def statuses(store: Store) -> dict[str, int]:
    return store.counts_by_status()


@pytest.mark.slow
def test_lanes_keep_channel_and_run_order_and_pace_across_threads_and_processes(
        database: Store, workers, tmp_path: Path) -> None:
    """Two workers of eight delivery threads each share 18 runs in 6 channels that Slack paces: every
    channel gets its messages in the order they were queued, one at a time and never faster than the
    interval, and every run's replies come in step order."""
    runs, channels, interval = 18, 6, 0.2
    queue_runs(database, runs, channels)
    with FakeSlack(channel_interval=interval, latency=0.05) as slack:
        env = slack_env(slack, database, RELAY_DELIVERY_CONCURRENCY="8", RELAY_CHANNEL_INTERVAL=str(interval))
        started = [workers(**env), workers(**env)]
        total = runs * (STEPS + 2)
        wait_until(lambda: statuses(database) == {SENT: total}, 90, f"{total} deliveries sent", started)

        assert slack.rate_limited == 0
        gaps = request_gaps(slack)
        assert len(gaps) == total - channels and min(gaps) >= interval
        for index in range(runs):
            channel = f"#lane-{index % channels}"
            [parent] = [m for m in slack.messages(channel) if f"run-{index:03d}" in m.text]
            assert parent.updates == 1 and "has completed successfully" in parent.text
            replies = [m.text for m in slack.replies(channel, parent.ts)]
            assert [f"step-{step:02d}" in text for step, text in enumerate(replies, 1)] == [True] * STEPS
        assert slack.errors == []
    sent = defaultdict(list)
    for row in database.list_deliveries(status=SENT, limit=1000):  # a superseded row was never posted
        sent[row["channel"]].append((row["sent_at"], row["id"]))
    for rows in sent.values():
        assert [delivery for _, delivery in sorted(rows)] == sorted(delivery for _, delivery in rows)


@pytest.mark.slow
def test_lanes_pace_each_channel_from_the_requests_sent_across_threads_and_processes(
        database: Store, workers) -> None:
    """Slack takes 0.3 s to answer and allows a post every 0.5 s per channel. Two workers of eight delivery
    threads count each channel's interval from when its last request was sent: the requests to a channel
    are never closer together than the interval (no 429), and mostly closer than interval + latency:
    counted from Slack's answers, as before, every gap would be 0.8 s or more."""
    runs, channels, interval, latency = 12, 4, 0.5, 0.3
    queue_runs(database, runs, channels)
    with FakeSlack(channel_interval=interval, latency=latency) as slack:
        env = slack_env(slack, database, RELAY_DELIVERY_CONCURRENCY="8", RELAY_CHANNEL_INTERVAL=str(interval))
        started = [workers(**env), workers(**env)]
        total = runs * (STEPS + 2)
        wait_until(lambda: statuses(database) == {SENT: total}, 90, f"{total} deliveries sent", started)

        gaps = request_gaps(slack)
        assert slack.rate_limited == 0 and min(gaps) >= interval
        assert statistics.median(gaps) < interval + latency, sorted(gaps)


def request_gaps(slack: FakeSlack) -> list[float]:
    """Seconds between the times Slack received two successive posts or updates to the same channel."""
    calls = defaultdict(list)
    for call in slack.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            calls[slack.channel_id(call.params["channel"])].append(call.at)
    return [later - earlier for times in calls.values()
            for earlier, later in zip(times, times[1:], strict=False)]


@pytest.mark.slow
def test_lanes_worker_killed_with_every_thread_busy_loses_nothing(database: Store, workers,
                                                                   tmp_path: Path) -> None:
    """Every delivery thread waits on Slack and every job thread on Gate when the worker is SIGKILLed: a
    second worker retakes all of it once the leases run out, and sends each message once."""
    runs = 6
    queue_runs(database, runs, channels=runs)
    with FakeSlack() as slack, FakeGate() as gate:
        slack.fail_next("chat.postMessage", status=503, delay=60.0, count=4)  # never reaches Slack
        gate.fail_next("list_executions", status=503, delay=60.0, count=2)
        urls = [slack.new_response_url() for _ in range(2)]
        for url in urls:
            job = {"application": "compute", "response_url": url, "user_id": VIEWER}
            database.enqueue_job(STATUS_JOB, job, now=0.0)
        env = slack_env(slack, database, GATE_URL=gate.url, RELAY_DELIVERY_CONCURRENCY="4",
                        RELAY_JOB_CONCURRENCY="2", RELAY_LEASE_SECONDS="2",
                        RELAY_CONFIG=viewer_config(tmp_path, slack))
        victim = workers(**env)
        slack.wait_for_calls("chat.postMessage", 4, timeout=30)
        gate.wait_for(lambda: len(gate.calls_to("list_executions")) == 2, timeout=30)
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
        assert statuses(database) == {SENDING: 4, PENDING: runs * (STEPS + 2) - 4}

        survivor = workers(**env)
        total = runs * (STEPS + 2)
        wait_until(lambda: statuses(database) == {SENT: total}, 60, "every delivery sent", [victim, survivor])
        wait_until(lambda: len(slack.webhook_posts) == 2, 30, "both status answers", [victim, survivor])
        for index in range(runs):
            [parent] = [m for m in slack.messages(f"#lane-{index}") if f"run-{index:03d}" in m.text]
            assert len(slack.replies(f"#lane-{index}", parent.ts)) == STEPS
        assert len(slack.calls_to("chat.postMessage")) == runs * (STEPS + 1) + 4
        assert sorted(path for path, _ in slack.webhook_posts) == sorted(urlparse(url).path for url in urls)


@pytest.mark.slow
def test_lanes_sigterm_finishes_work_in_flight_and_hands_back_the_rest(database: Store, workers,
                                                                        tmp_path: Path) -> None:
    """SIGTERM while both lanes are busy: the two posts and the job in flight finish, nothing else is
    started, and everything else is pending again at once (not held until a lease runs out)."""
    runs = 6
    queue_runs(database, runs, channels=runs)
    with FakeSlack() as slack, FakeGate() as gate:
        slack.fail_next("chat.postMessage", delay=1.0, count=2)
        gate.fail_next("list_executions", status=None, delay=1.0)
        url = slack.new_response_url()
        job = {"application": "compute", "response_url": url, "user_id": VIEWER}
        database.enqueue_job(STATUS_JOB, job, now=0.0)
        waiting = database.enqueue_job(STATUS_JOB, job, now=0.0)
        env = slack_env(slack, database, GATE_URL=gate.url, RELAY_DELIVERY_CONCURRENCY="2",
                        RELAY_JOB_CONCURRENCY="1", RELAY_LEASE_SECONDS="60",
                        RELAY_CONFIG=viewer_config(tmp_path, slack))
        stopping = workers(**env)
        slack.wait_for_calls("chat.postMessage", 2, timeout=30)
        gate.wait_for(lambda: gate.calls_to("list_executions"), timeout=30)
        assert stopping.stop(signal.SIGTERM) == 0
        assert len(slack.calls_to("chat.postMessage")) == 2
        assert statuses(database) == {SENT: 2, PENDING: runs * (STEPS + 2) - 2}
        assert len(slack.webhook_posts) == 1
        [leased] = database.lease_jobs(worker="check", now=1.0, lease=1.0)
        assert leased.id == waiting and leased.attempts == 0
        database.release("check")

        successor = workers(**env)
        total = runs * (STEPS + 2)
        wait_until(lambda: statuses(database) == {SENT: total}, 30, "every delivery sent",
                   [stopping, successor])
        assert len(slack.calls_to("chat.postMessage")) == runs * (STEPS + 1)


@pytest.mark.slow
def test_lanes_busy_worker_exits_promptly_after_sigterm(database: Store, workers, tmp_path: Path) -> None:
    """SIGTERM while all eight delivery threads wait on Slack and both job threads on Gate, each job with a
    dozen slow Gate calls still to make (24 s of them): the calls in flight end, no other call starts, and
    the worker exits long before the jobs could have finished. The jobs are queued again, to try later."""
    runs, applications = 8, [f"app{number:02d}" for number in range(12)]
    queue_runs(database, runs, channels=runs)
    for application in applications:  # the applications `pending` asks Gate about, one call each
        database.accept_event(event_id=f"seen-{application}", type="orca:pipeline:complete",
                              application=application, execution_id=f"run-{application}", drafts=[],
                              now=time.time())
    with FakeSlack() as slack, FakeGate() as gate:
        slack.fail_next("chat.postMessage", delay=2.0, count=runs)
        gate.fail_next("list_executions", status=None, delay=2.0, count=1_000)
        for _ in range(2):
            job = {"application": None, "user_id": VIEWER, "channel_id": "C0LANES", "command": "/spinnaker",
                   "response_url": slack.new_response_url()}
            database.enqueue_job(PENDING_JOB, job, now=time.time())
        env = slack_env(slack, database, GATE_URL=gate.url, RELAY_DELIVERY_CONCURRENCY="8",
                        RELAY_JOB_CONCURRENCY="2", RELAY_CONFIG=viewer_config(tmp_path, slack))
        busy = workers(**env)
        slack.wait_for_calls("chat.postMessage", runs, timeout=30)
        gate.wait_for(lambda: len(gate.calls_to("list_executions")) >= 2, timeout=30)

        busy.process.send_signal(signal.SIGTERM)
        assert busy.process.wait(timeout=10) == 0, busy.tail()

        assert len(slack.calls_to("chat.postMessage")) == runs
        assert statuses(database) == {SENT: runs, PENDING: runs * (STEPS + 2) - runs}
        assert len(gate.calls_to("list_executions")) < len(applications)
        assert [job.attempts for job in database.lease_jobs(worker="check", now=time.time() + 600,
                                                              lease=1.0)] == [1, 1]
        assert slack.webhook_posts == []  # nobody was told of a failure that is tried again


@pytest.mark.slow
def test_lanes_slow_call_keeps_its_lease_from_another_worker(database: Store, workers) -> None:
    """A post that takes three leases' time is not taken over by the other worker: its lease is renewed
    while the call is in flight, so Slack gets every message once."""
    runs = 4
    queue_runs(database, runs, channels=runs)
    with FakeSlack() as slack:
        slack.fail_next("chat.postMessage", delay=4.5)
        env = slack_env(slack, database, RELAY_LEASE_SECONDS="1.5", RELAY_CHANNEL_INTERVAL="0")
        pair = [workers(**env)]
        slack.wait_for_calls("chat.postMessage", 1, timeout=30)
        pair.append(workers(**env))
        total = runs * (STEPS + 2)
        wait_until(lambda: statuses(database) == {SENT: total}, 60, "every delivery sent", pair)
        assert len(slack.calls_to("chat.postMessage")) == runs * (STEPS + 1)
        assert all(row["attempts"] == 0 for row in database.list_deliveries(limit=1000))


@pytest.mark.slow
def test_lanes_twenty_clicks_across_two_workers_send_one_patch(database: Store, workers,
                                                               tmp_path: Path) -> None:
    """Twenty approvers click the same judgment; two workers of ten job threads each, with Gate slow to
    answer, resolve the clicks at once: Gate gets one PATCH."""
    approvers = [f"U0CLICK{number:03d}" for number in range(20)]
    with FakeSlack() as slack, FakeGate(identity=RELAY_IDENTITY) as gate:
        for user in approvers:
            slack.add_user(user, email=f"{user.lower()}@example.com")
        rules = RelayRules(approvers={"compute": ApproverPolicy(users=frozenset(approvers))})
        settings = Settings(slack_bot_token=slack.token, slack_api_url=slack.api_url,
                            slack_signing_secret=SIGNING_SECRET, gate_url=gate.url, echo_token=ECHO_TOKEN,
                            database_url=str(database.engine.url), channel_interval=0.0, rules=rules)
        services = build_services(settings, store=database)
        client = create_app(settings, services=services).test_client()
        run = events.execution()
        gate.add_execution(run)
        started = client.post("/echo/events/", json=events.stage_event("starting", run, stage_id=STAGE_ID),
                              headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
        assert started.status_code == 202
        dispatcher = services.dispatcher()

        def posted() -> Any:
            dispatcher.run_once()
            return database.message(f"{run['id']}/{STAGE_ID}@playback-features")

        ref = wait_until(posted, 30, "the judgment message")
        message = slack.message(ref.channel, ref.ts)
        for user in approvers:
            response_url = slack.new_response_url(channel=ref.channel, ts=ref.ts, user=user)
            raw = form(block_actions(message, "judgment.choose.0", user=user,
                                     trigger_id=slack.issue_trigger(), response_url=response_url))
            assert client.post("/slack/interactions", data=raw, headers=signed(raw)).status_code == 200
        assert len(database.list_judgments()) == 20

        gate.fail_next("get_execution", status=None, delay=0.3, count=1_000)
        config = tmp_path / "relay.yaml"
        config.write_text(f"approvers:\n  compute:\n    users: [{', '.join(approvers)}]\n")
        env = slack_env(slack, database, GATE_URL=gate.url, RELAY_CONFIG=str(config),
                        RELAY_JOB_CONCURRENCY="10", RELAY_CHANNEL_INTERVAL="0")
        pair = [workers(**env), workers(**env)]
        unsettled = {RECEIVED, *IN_FLIGHT}
        wait_until(lambda: not any(j.status in unsettled for j in database.list_judgments()), 90,
                   "every click settled", pair)

        assert len(gate.calls_to("judge")) == 1
        outcomes = Counter(j.status for j in database.list_judgments())
        assert outcomes[DECIDED] == 1 and set(outcomes) <= {DECIDED, LOST, STALE}


def test_deadline_cuts_call_timeouts_and_refuses_calls_once_passed() -> None:
    assert bounded(10.0) == 10.0
    with deadline(5.0):
        assert 4.0 < bounded(10.0) <= 5.0
        assert bounded(1.0) == 1.0
    with deadline(0.0), pytest.raises(DeadlinePassed):
        bounded(10.0)
    assert bounded(10.0) == 10.0


def test_deadline_cuts_a_slack_call_made_inside_a_job(slack: FakeSlack) -> None:
    client = build_client(token=slack.token, base_url=slack.api_url, timeout=10.0)
    slack.fail_next("auth.test", delay=5.0)  # answers, but only after five seconds
    started = time.monotonic()
    with deadline(0.5), pytest.raises(OSError):  # the call's timeout is what is left of the job's time
        client.auth_test()
    assert time.monotonic() - started < 4.0
    assert client.timeout == 10  # the shared client keeps its own timeout for other threads
    stopping = Stopping(grace=0.0)
    stopping.set()
    with deadline(60.0, stopping=stopping), pytest.raises(DeadlinePassed, match="stopping"):
        client.auth_test()


def test_services_gate_client_times_every_call_in_the_metrics(gate: FakeGate, tmp_path: Path) -> None:
    services = build_services(Settings(gate_url=gate.url, database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    services.gate.ping()
    gate.fail_next("auth_user", status=503)
    with pytest.raises(GateError, match="503"):
        services.gate.ping()
    services.store.engine.dispose()
    value = services.metrics.registry.get_sample_value
    assert value("relay_gate_call_seconds_count", {"operation": "auth_user", "outcome": "ok"}) == 1
    assert value("relay_gate_call_seconds_count", {"operation": "auth_user", "outcome": "error"}) == 1


def test_lanes_deliver_while_a_job_waits_on_gate_until_its_deadline(slack: FakeSlack, gate: FakeGate,
                                                                   tmp_path: Path) -> None:
    """The only job thread waits on a Gate that never answers: a message queued meanwhile is sent at once,
    and the job's deadline ends the call (the Gate timeout alone would hold it for a minute), so the thread is
    freed and the job tried again, and the person hears back from that try."""
    slack.add_user(VIEWER, email="viewer@example.com")
    viewer = RelayRules(cancelers={"*": ApproverPolicy(users=frozenset({VIEWER}))})
    settings = Settings(slack_bot_token=slack.token, slack_api_url=slack.api_url, gate_url=gate.url,
                        database_url=f"sqlite:///{tmp_path / 'relay.sqlite3'}", channel_interval=0.0,
                        gate_timeout=60.0, job_deadline=1.0, job_concurrency=1, delivery_concurrency=2,
                        rules=viewer)
    services = build_services(settings)
    services.store.create_schema()
    gate.fail_next("list_executions", status=None, delay=120.0)
    services.store.enqueue_job(STATUS_JOB, {"application": "compute", "user_id": VIEWER,
                                            "response_url": slack.new_response_url()}, now=0.0)
    stop = threading.Event()
    worker = threading.Thread(target=services.dispatcher().run, args=(stop,))
    worker.start()
    try:
        gate.wait_for(lambda: gate.calls_to("list_executions"), timeout=10)
        run = run_with_steps(0, "#while-gate-hangs")
        services.store.accept_event(event_id="e1", type="orca:pipeline:starting", application="compute",
                                    execution_id=run["id"], now=time.time(), drafts=[DeliveryDraft(
                                        thread_key="t1", channel="#while-gate-hangs", action="post",
                                        template="pipeline.starting", payload={"text": "run started"})])
        slack.wait_for(lambda: slack.messages("#while-gate-hangs"), timeout=10, description="the message")
        assert not slack.webhook_posts  # the job is still waiting on Gate
        [(_, answer)] = slack.wait_for(lambda: slack.webhook_posts, timeout=10, description="the answer")
        assert answer["text"] == "No recent runs of *compute*."  # from the second try, which Gate answers
    finally:
        stop.set()
        worker.join(timeout=30)
    value = services.metrics.registry.get_sample_value
    assert value("relay_lane_threads", {"lane": "job"}) == 1
    assert value("relay_lane_busy", {"lane": "delivery"}) == 0
    assert value("relay_lane_wait_seconds_count", {"lane": "delivery"}) == 1
    assert value("relay_gate_call_seconds_count", {"operation": "list_executions", "outcome": "error"}) == 1
    assert value("relay_gate_call_seconds_count", {"operation": "list_executions", "outcome": "ok"}) == 1
    services.store.engine.dispose()
