"""Integration tests for delivery: ingest, outbox and dispatcher against a slack Slack over real HTTP."""

from __future__ import annotations

import copy
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from relay.app import create_app
from relay.clients.slack import SlackPoster, build_client
from relay.config import Settings
from relay.delivery.dispatcher import Dispatcher
from relay.services import Services
from relay.store import Store, migrate
from relay.wiring import build_services
from schemas.config import WHEN_VALUES
from tests import processes
from tests.events import JUDGMENT_STAGE_ID, execution, pipeline_event, stage_event
from tests.fakes import FakeSlack

UI = "https://spinnaker.example.com"
ECHO_TOKEN = "echo-token-of-the-relay"
WAIT_STAGE_ID = "01D4NH3V9D832XGZJE5G6R49RK"


class Clock:
    """A hand-driven clock for the dispatcher's pacing, retries and leases. It starts an hour ahead of the
    real time the app stamps accepted events with, so everything accepted is due at once."""

    def __init__(self) -> None:
        self.now = time.time() + 3600

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(url))
    return url


@dataclass
class Relay:
    """One relay process: its app (to receive events), store and dispatcher."""

    services: Services
    client: FlaskClient
    dispatcher: Dispatcher

    @property
    def store(self) -> Store:
        return self.services.store

    def receive(self, document: dict) -> dict:
        response = self.client.post(
            "/echo/events/", json=document, headers={"Authorization": f"Bearer {ECHO_TOKEN}"}
        )
        assert response.status_code in (200, 202), response.get_json()
        return response.get_json()

    def unfinished(self) -> int:
        counts = self.store.counts_by_status()
        return counts.get("pending", 0) + counts.get("sending", 0)

    def drain(self, clock: Clock, *, step: float = 1.0, passes: int = 500) -> None:
        """Run the dispatcher pass by pass, moving the clock on when nothing is due, until nothing is left."""
        for _ in range(passes):
            if not self.unfinished():
                return
            if not self.dispatcher.run_once():
                clock.advance(step)
        raise AssertionError(f"deliveries still unfinished: {self.store.counts_by_status()}")


def start_relay(
    database_url: str, slack: FakeSlack, clock: Clock, *, token: str | None = None, **options: Any
) -> Relay:
    settings = Settings(
        slack_bot_token=token or slack.token,
        slack_api_url=slack.api_url,
        spinnaker_ui_url=UI,
        database_url=database_url,
        echo_token=ECHO_TOKEN,
        **{"channel_interval": 1.0, **options},
    )
    services = build_services(settings)
    return Relay(services, create_app(services=services).test_client(), services.dispatcher(clock=clock))


@pytest.fixture
def relay(database_url: str, slack: FakeSlack, clock: Clock) -> Relay:
    return start_relay(database_url, slack, clock)


def preference(address: str = "#deploys") -> dict:
    return {"type": "slack", "address": address, "when": list(WHEN_VALUES)}


class Run:
    """Snapshots of one pipeline execution as Orca reports it while it runs, every preference on."""

    def __init__(self, run_id: str = "01D4NH3V9D1RK8GX4036M8BAXV", *, address: str = "#deploys") -> None:
        self.execution = execution(notifications=[preference(address)], id=run_id)
        self.execution["stages"][0]["context"] = {
            "sendNotifications": True,
            "notifications": [preference(address)],
        }
        self.execution["stages"][-1]["context"]["notifications"] = [preference(address)]

    def stage(self, stage_id: str, **changes: Any) -> None:
        stage = next(s for s in self.execution["stages"] if s["id"] == stage_id)
        context = changes.pop("context", {})
        stage.update(changes)
        stage["context"].update(context)

    def pipeline_event(self, outcome: str, **changes: Any) -> dict:
        self.execution.update(changes)
        return pipeline_event(outcome, copy.deepcopy(self.execution))

    def stage_event(self, outcome: str, stage_id: str) -> dict:
        return stage_event(outcome, copy.deepcopy(self.execution), stage_id=stage_id)


def full_run_events(run: Run) -> Iterator[dict]:
    yield run.pipeline_event("starting")
    yield run.stage_event("starting", WAIT_STAGE_ID)
    run.stage(WAIT_STAGE_ID, status="SUCCEEDED", endTime=1551205799013)
    yield run.stage_event("complete", WAIT_STAGE_ID)
    yield run.stage_event("starting", JUDGMENT_STAGE_ID)
    run.stage(
        JUDGMENT_STAGE_ID,
        status="SUCCEEDED",
        endTime=1551205890000,
        context={"judgmentStatus": "continue", "lastModifiedBy": "carol@example.com"},
    )
    yield run.stage_event("complete", JUDGMENT_STAGE_ID)
    yield run.pipeline_event("complete", status="SUCCEEDED", endTime=1551205899001)


JUDGED = "Stage Proceed Anyway? of Simple Wait Pipeline was judged to continue by carol@example.com"


def assert_full_run_delivered(slack: FakeSlack) -> None:
    """One parent updated to the run's end; in its thread the stages, and the judgment message (broadcast,
    updated once judged) followed by the judgment's outcome."""
    (parent,) = slack.messages("#deploys")
    assert parent.text == "Compute's Simple Wait Pipeline pipeline has completed successfully"
    assert parent.updates == 1
    assert parent.history[0]["text"] == "Compute's Simple Wait Pipeline pipeline is starting"
    replies = slack.replies("#deploys", parent.ts)
    assert [reply.text for reply in replies] == [
        "Stage Wait for Compute's Simple Wait Pipeline pipeline started",
        "Stage Wait for Compute's Simple Wait Pipeline pipeline completed",
        JUDGED,
        JUDGED,
    ]
    assert replies[2].history[0]["text"] == (
        "Stage Proceed Anyway? for Compute's Simple Wait Pipeline pipeline is awaiting manual judgment")
    assert [reply.reply_broadcast for reply in replies] == [False, False, True, False]


def test_delivery_full_run_is_one_message_updated_in_place_with_thread_replies(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    for document in full_run_events(Run()):
        relay.receive(document)
        relay.drain(clock)
    assert_full_run_delivered(slack)
    assert relay.store.counts_by_status().get("sent", 0) >= 6
    assert relay.unfinished() == 0


def test_delivery_full_run_queued_before_the_dispatcher_runs(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    for document in full_run_events(Run()):
        assert relay.receive(document)["result"] == "queued"
    relay.drain(clock)
    assert_full_run_delivered(slack)


def test_delivery_message_map_survives_a_restart(database_url: str, slack: FakeSlack, clock: Clock) -> None:
    events = list(full_run_events(Run()))
    for document in events:
        relay = start_relay(database_url, slack, clock)  # a new process: new store, app and dispatcher
        relay.receive(document)
        relay.drain(clock)
        relay.store.engine.dispose()
    assert_full_run_delivered(slack)


def test_delivery_stage_event_first_starts_the_thread(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    run = Run()
    relay.receive(run.stage_event("starting", WAIT_STAGE_ID))
    relay.receive(run.pipeline_event("starting"))
    relay.drain(clock)
    (parent,) = slack.messages("#deploys")
    assert parent.text == "Compute's Simple Wait Pipeline pipeline is starting"
    assert (
        parent.history[0]["blocks"][0]["text"]["text"]
        == ":arrows_counterclockwise: Simple Wait Pipeline is running"
    )
    assert [r.text for r in slack.replies("#deploys", parent.ts)] == [
        "Stage Wait for Compute's Simple Wait Pipeline pipeline started"
    ]


@pytest.mark.parametrize("outcome, changes, sentence", [
    ("failed", {"status": "TERMINAL"}, "has failed"),
    ("failed", {"status": "CANCELED", "canceled": True, "canceledBy": "bob"}, "was canceled"),
], ids=["failed", "canceled"])
def test_delivery_failed_or_canceled_run_also_replies_in_the_channel(
    relay: Relay, slack: FakeSlack, clock: Clock, outcome: str, changes: dict, sentence: str
) -> None:
    run = Run()
    relay.receive(run.pipeline_event("starting"))
    relay.drain(clock)
    relay.receive(run.pipeline_event(outcome, endTime=1551205899001, **changes))
    relay.drain(clock)
    (parent,) = slack.messages("#deploys")
    assert parent.text == f"Compute's Simple Wait Pipeline pipeline {sentence}"
    assert parent.updates == 1  # an update notifies nobody ...
    (alert,) = slack.replies("#deploys", parent.ts)
    assert alert.reply_broadcast is True  # ... so a reply shown in the channel does
    assert alert.text == parent.text
    assert {block["type"] for block in alert.blocks} == {"section"}


def test_delivery_successful_run_only_updates_its_parent(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    run = Run()
    relay.receive(run.pipeline_event("starting"))
    relay.drain(clock)
    relay.receive(run.pipeline_event("complete", status="SUCCEEDED", endTime=1551205899001))
    relay.drain(clock)
    (parent,) = slack.messages("#deploys")
    assert parent.updates == 1
    assert slack.replies("#deploys", parent.ts) == []


@pytest.mark.parametrize("dispatch_between", [True, False], ids=["dispatched-between", "queued-together"])
def test_delivery_late_starting_never_rolls_back_a_finished_parent(
    relay: Relay, slack: FakeSlack, clock: Clock, dispatch_between: bool
) -> None:
    run = Run()
    starting = run.pipeline_event("starting")
    relay.receive(run.pipeline_event("complete", status="SUCCEEDED", endTime=1551205899001))
    if dispatch_between:
        relay.drain(clock)
    relay.receive(starting)  # Echo delivers asynchronously and in no fixed order
    relay.drain(clock)
    (parent,) = slack.messages("#deploys")
    assert parent.text == "Compute's Simple Wait Pipeline pipeline has completed successfully"
    assert parent.updates == 0


def test_delivery_one_message_per_event_when_message_per_run_is_off(
    database_url: str, slack: FakeSlack, clock: Clock
) -> None:
    relay = start_relay(database_url, slack, clock, message_per_run=False)
    for document in full_run_events(Run()):
        relay.receive(document)
    relay.drain(clock)
    top_level = slack.messages("#deploys")
    as_posted = [m.history[0]["text"] if m.history else m.text for m in top_level]
    assert as_posted == [
        "Compute's Simple Wait Pipeline pipeline is starting",
        "Stage Wait for Compute's Simple Wait Pipeline pipeline started",
        "Stage Wait for Compute's Simple Wait Pipeline pipeline completed",
        "Stage Proceed Anyway? for Compute's Simple Wait Pipeline pipeline is awaiting manual judgment",
        JUDGED,
        "Compute's Simple Wait Pipeline pipeline has completed successfully",
    ]
    assert all(slack.replies("#deploys", m.ts) == [] for m in top_level)
    # Only the judgment message is rewritten (once judged); every other event has a message of its own.
    assert [m.updates > 0 for m in top_level] == [False, False, False, True, False, False]


def test_delivery_each_channel_gets_its_own_parent(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    run = Run()
    run.execution["notifications"].append(preference("#releases"))
    relay.receive(run.pipeline_event("starting"))
    relay.receive(run.pipeline_event("complete", status="SUCCEEDED", endTime=1551205899001))
    relay.drain(clock)
    for channel in ("#deploys", "#releases"):
        (parent,) = slack.messages(channel)
        assert parent.text.endswith("has completed successfully")


def test_delivery_paces_posts_per_channel(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    for number in range(3):
        relay.receive(Run(f"01RUN{number:021d}").pipeline_event("starting"))
    assert relay.dispatcher.run_once() == 1
    assert relay.dispatcher.run_once() == 0  # the channel's next slot is a second away
    clock.advance(0.99)
    assert relay.dispatcher.run_once() == 0
    clock.advance(0.01)
    assert relay.dispatcher.run_once() == 1
    assert [call.at for call in slack.calls_to("chat.postMessage")] == sorted(
        call.at for call in slack.calls_to("chat.postMessage")
    )
    assert len(slack.messages("#deploys")) == 2


def test_delivery_honours_retry_after(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    relay.receive(Run().pipeline_event("starting"))
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    assert relay.dispatcher.run_once() == 1
    clock.advance(6.9)
    assert relay.dispatcher.run_once() == 0
    assert len(slack.calls_to("chat.postMessage")) == 1
    clock.advance(0.1)
    assert relay.dispatcher.run_once() == 1
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("sent", 0)  # a rate limit is not a failed attempt
    assert len(slack.messages("#deploys")) == 1


def test_delivery_retry_after_holds_the_whole_channel(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    relay.receive(Run("01RUNA").pipeline_event("starting"))
    relay.receive(Run("01RUNB").pipeline_event("starting"))
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    relay.dispatcher.run_once()
    clock.advance(29)
    assert relay.dispatcher.run_once() == 0
    clock.advance(1)
    relay.drain(clock)
    assert len(slack.messages("#deploys")) == 2


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 503}, id="http-503"),
        pytest.param({"status": 500, "error": "internal_error"}, id="http-500-json"),
        pytest.param({"error": "fatal_error"}, id="fatal-error"),
        pytest.param({"status": 502, "delay": 1.5}, id="timeout"),
    ],
)
def test_delivery_retries_transient_failures_with_backoff(
    database_url: str, slack: FakeSlack, clock: Clock, fault: dict
) -> None:
    relay = start_relay(database_url, slack, clock)
    relay.services.poster = SlackPoster(build_client(token=slack.token, base_url=slack.api_url, timeout=1))
    relay.dispatcher = relay.services.dispatcher(clock=clock)
    relay.receive(Run().pipeline_event("starting"))
    slack.fail_next("chat.postMessage", count=2, **fault)
    assert relay.dispatcher.run_once() == 1
    clock.advance(0.49)
    assert relay.dispatcher.run_once() == 0  # the first retry waits 0.5-1 s (1 s with jitter)
    clock.advance(0.51)
    assert relay.dispatcher.run_once() == 1
    clock.advance(0.99)
    assert relay.dispatcher.run_once() == 0  # the second waits 1-2 s
    clock.advance(1.01)
    assert relay.dispatcher.run_once() == 1
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    slack.wait_for(lambda: slack.messages("#deploys"), description="the post after the retries")
    assert len(slack.messages("#deploys")) == 1


def test_delivery_gives_up_after_max_attempts(database_url: str, slack: FakeSlack, clock: Clock) -> None:
    relay = start_relay(database_url, slack, clock, delivery_max_attempts=3)
    relay.receive(Run().pipeline_event("starting"))
    slack.set_down(503)
    relay.drain(clock, step=10)
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("failed", 3, "http_503")
    assert len(slack.calls_to("chat.postMessage")) == 3


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param(
            lambda slack: slack.remove_channel("#deploys"), "channel_not_found", id="channel-not-found"
        ),
        pytest.param(
            lambda slack: slack.add_channel("#deploys", archived=True), "is_archived", id="archived"
        ),
        pytest.param(
            lambda slack: slack.fail_next("chat.postMessage", error="invalid_blocks"),
            "invalid_blocks",
            id="invalid-blocks",
        ),
    ],
)
def test_delivery_stops_on_permanent_errors(
    relay: Relay, slack: FakeSlack, clock: Clock, setup, reason: str
) -> None:
    setup(slack)
    relay.receive(Run().pipeline_event("starting"))
    relay.drain(clock)
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("failed", 1, reason)
    clock.advance(3600)
    assert relay.dispatcher.run_once() == 0
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_delivery_stops_on_invalid_auth(database_url: str, slack: FakeSlack, clock: Clock) -> None:
    relay = start_relay(database_url, slack, clock, token="xoxb-revoked")
    relay.receive(Run().pipeline_event("starting"))
    relay.drain(clock)
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["last_error"]) == ("failed", "invalid_auth")
    assert slack.messages("#deploys") == []


def test_delivery_joins_a_public_channel_then_posts(relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    slack.add_channel("#deploys", member=False)
    relay.receive(Run().pipeline_event("starting"))
    relay.drain(clock)
    assert slack.is_member("#deploys")
    assert [call.method for call in slack.calls] == [
        "chat.postMessage",
        "conversations.list",
        "conversations.join",
        "chat.postMessage",
    ]
    assert len(slack.messages("#deploys")) == 1
    assert relay.store.list_deliveries()[0]["status"] == "sent"


def test_delivery_private_channel_without_the_bot_fails_with_the_reason(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    slack.add_channel("#deploys", member=False, private=True)
    relay.receive(Run().pipeline_event("starting"))
    relay.drain(clock)
    (delivery,) = relay.store.list_deliveries()
    assert (delivery["status"], delivery["last_error"]) == ("failed", "channel_not_found")
    assert slack.calls_to("conversations.join") == []


def test_delivery_not_in_channel_that_cannot_be_joined_fails_with_the_reason(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    channel = slack.add_channel("#deploys", private=True)
    slack.fail_next("chat.postMessage", error="not_in_channel")
    run = Run(address=channel)
    relay.receive(run.pipeline_event("starting"))
    relay.drain(clock)
    (delivery,) = relay.store.list_deliveries()
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "not_in_channel (cannot join: method_not_supported_for_channel_type)"
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_delivery_posts_a_new_parent_when_the_old_one_is_gone(
    relay: Relay, slack: FakeSlack, clock: Clock
) -> None:
    run = Run()
    relay.receive(run.pipeline_event("starting"))
    relay.drain(clock)
    slack.fail_next("chat.update", error="message_not_found")
    relay.receive(run.pipeline_event("complete", status="SUCCEEDED", endTime=1551205899001))
    relay.receive(run.stage_event("starting", WAIT_STAGE_ID))
    relay.drain(clock)
    first, second = slack.messages("#deploys")
    assert second.text.endswith("has completed successfully")
    assert [r.text for r in slack.replies("#deploys", second.ts)] == [
        "Stage Wait for Compute's Simple Wait Pipeline pipeline started"
    ]


def test_delivery_dry_run_stores_and_logs_without_calling_slack(
    database_url: str, slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(slack_api_url=slack.api_url, database_url=database_url, spinnaker_ui_url=UI)
    services = build_services(settings)
    client = create_app(services=services).test_client()
    assert client.post("/echo/events/", json=Run().pipeline_event("starting")).status_code == 202
    with caplog.at_level(logging.INFO, logger="relay.delivery.dispatcher"):
        assert services.dispatcher(clock=clock).run_once() == 1
    (delivery,) = services.store.list_deliveries()
    assert delivery["status"] == "dry_run"
    assert "Simple Wait Pipeline" in caplog.text and "dry-run delivery" in caplog.text
    assert slack.calls == []


def test_delivery_dry_run_logs_tell_a_new_message_from_an_edit(
    database_url: str, slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(slack_api_url=slack.api_url, database_url=database_url, spinnaker_ui_url=UI)
    services = build_services(settings)
    client = create_app(services=services).test_client()
    run = Run()
    with caplog.at_level(logging.INFO, logger="relay.delivery.dispatcher"):
        for status in ("starting", "complete"):
            assert client.post("/echo/events/", json=run.pipeline_event(status)).status_code == 202
            assert services.dispatcher(clock=clock).run_once() == 1
            clock.advance(settings.channel_interval)
    lines = [record.getMessage() for record in caplog.records if "dry-run delivery" in record.getMessage()]
    assert [line.split(": ")[1] for line in lines] == [
        "a new message in #deploys",
        "an update of the run's message in #deploys",
    ]
    assert slack.calls == []


@pytest.mark.slow
def test_delivery_burst_to_one_channel_is_complete_without_a_429_storm(database_url: str) -> None:
    interval = 0.02
    with FakeSlack(channel_interval=interval) as slack:
        relay = start_relay(database_url, slack, Clock(), channel_interval=interval)
        runs = [Run(f"01BURST{number:019d}") for number in range(200)]
        for run in runs:
            assert relay.receive(run.pipeline_event("starting"))["result"] == "queued"
        dispatcher = relay.services.dispatcher()  # the real clock
        stop = threading.Event()
        worker = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        worker.start()
        try:
            slack.wait_for(
                lambda: len(slack.messages("#deploys")) == 200,
                timeout=60,
                description="200 messages in #deploys",
            )
        finally:
            stop.set()
            worker.join(timeout=10)
        assert slack.errors == []
    assert len({m.text for m in slack.messages("#deploys")}) == 1
    assert relay.store.counts_by_status() == {"sent": 200}
    assert slack.rate_limited <= 2, f"{slack.rate_limited} posts were rate-limited"


def worker_process(database_url: str, slack: FakeSlack, log: Path) -> processes.Relay:
    """`slackops-relay worker` in its own process, as an operator runs it; its log goes to `log`."""
    environ = {
        **os.environ,
        "PYTHONPATH": str(processes.ROOT),
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_API_URL": slack.api_url,
        "RELAY_DATABASE_URL": database_url,
        "RELAY_ECHO_TOKEN": ECHO_TOKEN,
        "RELAY_CHANNEL_INTERVAL": "0",
        "RELAY_LEASE_SECONDS": "1",
    }
    return processes.Relay(["worker"], environ, log)


def test_delivery_killed_dispatcher_work_is_finished_after_restart(
    database_url: str, slack: FakeSlack, clock: Clock, tmp_path: Path
) -> None:
    relay = start_relay(database_url, slack, clock)
    for document in full_run_events(Run()):
        relay.receive(document)
    # The worker dies while its first post is in flight; Slack, slow, never completes that post.
    slack.fail_next("chat.postMessage", status=503, delay=30)
    first = worker_process(database_url, slack, tmp_path / "first.log")
    try:
        slack.wait_for_calls("chat.postMessage", 1, timeout=30)
    finally:
        first.stop(signal.SIGKILL)
    assert relay.store.counts_by_status()["sending"] == 1  # the dead worker's lease is still held
    second = worker_process(database_url, slack, tmp_path / "second.log")
    try:
        slack.wait_for(
            lambda: relay.unfinished() == 0 or second.process.poll() is not None,
            timeout=30,
            description="the restarted worker to finish the outbox",
        )
    finally:
        exit_status = second.stop(signal.SIGTERM)
    assert exit_status == 0, second.log.read_text()
    assert relay.unfinished() == 0
    assert_full_run_delivered(slack)


def test_delivery_idle_wait_ends_at_the_next_due_delivery(relay: Relay, clock: Clock) -> None:
    assert relay.store.next_due() is None
    relay.receive(Run("01RUNA").pipeline_event("starting"))
    relay.receive(Run("01RUNA").stage_event("starting", WAIT_STAGE_ID))  # waits for its run's parent
    relay.receive(Run("01RUNB").pipeline_event("starting"))
    assert relay.store.next_due() <= clock.now
    assert relay.dispatcher.run_once() == 1
    assert relay.store.next_due() == clock.now + 1.0  # the channel's next slot
    clock.advance(5)
    relay.drain(clock)
    assert relay.store.next_due() is None
