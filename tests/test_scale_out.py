"""Several relay processes on one PostgreSQL database and a fake Slack: two web servers (Gunicorn, two
workers each) and two dispatcher workers share the work, each message is sent once and in order, and a
worker that dies or stops mid-delivery loses nothing."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from relay.store import FAILED, PENDING, SENT, Store, migrate
from tests import events
from tests.events import pipeline_event, stage_event
from tests.fakes import FakeSlack
from tests.processes import ROOT, Relay, free_port, stop_all, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ECHO_TOKEN = "scale-out-echo-token"
STEPS = 18  # stage events per run, between its starting and complete events


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-scale-out-bot-token") as fake:
        yield fake


@pytest.fixture
def cluster(postgres_schema_url: str, fake_slack: FakeSlack,
            tmp_path: Path) -> Iterator[Callable[..., Relay]]:
    """Starts relay processes on a migrated schema and the fake Slack; stops them all afterwards."""
    store = Store.from_url(postgres_schema_url)
    migrate.upgrade(store)
    store.engine.dispose()
    started: list[Relay] = []

    def start(*args: str, **env: str) -> Relay:
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "RELAY_DATABASE_URL": postgres_schema_url,
                       "SLACK_BOT_TOKEN": fake_slack.token, "SLACK_API_URL": fake_slack.api_url,
                       "RELAY_ECHO_TOKEN": ECHO_TOKEN, "RELAY_CHANNEL_INTERVAL": "0",
                       "RELAY_LOG_LEVEL": "WARNING", **env}
        relay = Relay(list(args), environment, tmp_path / f"relay-{len(started)}.log")
        started.append(relay)
        return relay

    yield start
    stop_all(started)


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def run_with_steps(index: int, channel: str) -> dict[str, Any]:
    return events.run_with_steps(index, channel, steps=STEPS, prefix="01SCALE")


def run_events(index: int, channel: str) -> list[dict[str, Any]]:
    """Starting, one `stage.complete` per step, complete: 2 + STEPS events for one run, in order."""
    run = run_with_steps(index, channel)
    steps = [stage_event("complete", run, stage_id=stage["id"]) for stage in run["stages"]]
    return [pipeline_event("starting", run), *steps, pipeline_event("complete", run)]


def post(url: str, event: dict[str, Any]) -> int:
    response = requests.post(f"{url}/echo/events/", json=event, timeout=30,
                             headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
    return response.status_code


def scraped(url: str, name: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)


def statuses(url: str) -> Counter:
    store = Store.from_url(url)
    try:
        return Counter(store.counts_by_status())
    finally:
        store.engine.dispose()


def test_two_web_servers_and_two_workers_send_each_message_once_in_run_order(
        cluster, fake_slack: FakeSlack, postgres_schema_url: str, tmp_path: Path) -> None:
    runs, channels = 50, 10
    webs = []
    for name in ("web1", "web2"):
        port = free_port()
        metrics_dir = tmp_path / f"metrics-{name}"
        relay = cluster("serve", "--no-dispatcher", "--bind", f"127.0.0.1:{port}", RELAY_WEB_WORKERS="2",
                        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        webs.append((f"http://127.0.0.1:{port}", relay, metrics_dir))
    workers = [cluster("worker"), cluster("worker")]
    everyone = [relay for _, relay, _ in webs] + workers
    for url, _, _ in webs:
        wait_until(lambda url=url: ready(url), 30, f"{url} to be ready", everyone)

    plans = {index: run_events(index, f"#scale-{index % channels}") for index in range(runs)}
    answers: list[int] = []
    lock = threading.Lock()

    def send(indexes: list[int]) -> None:
        # One run's events go out one after another, alternating between the two web servers.
        for index in indexes:
            for number, event in enumerate(plans[index]):
                status = post(webs[number % 2][0], event)
                with lock:
                    answers.append(status)

    senders = [threading.Thread(target=send, args=(list(range(start, runs, 8)),)) for start in range(8)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert Counter(answers) == {202: runs * (STEPS + 2)}

    deliveries = runs * (STEPS + 2)
    wait_until(lambda: statuses(postgres_schema_url) == {SENT: deliveries}, 120,
               f"{deliveries} deliveries to be sent", everyone)

    assert len(fake_slack.calls_to("chat.postMessage")) == runs * (STEPS + 1)
    assert len(fake_slack.calls_to("chat.update")) == runs
    for index in range(runs):
        channel = f"#scale-{index % channels}"
        [parent] = [m for m in fake_slack.messages(channel) if f"run-{index:03d}" in m.text]
        assert parent.updates == 1 and "has completed successfully" in parent.text
        replies = [m.text for m in fake_slack.replies(channel, parent.ts)]
        assert len(replies) == STEPS
        assert all(f"step-{step:02d}" in text for step, text in enumerate(replies, start=1)), replies
    assert fake_slack.errors == []

    # Each web server adds up its two Gunicorn workers' counters; both workers took requests.
    counted = [scraped(url, "relay_events_total") for url, _, _ in webs]
    assert sum(counted) == runs * (STEPS + 2)
    for _, _, metrics_dir in webs:
        assert len({path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}) >= 2


def queue_runs(fake_slack: FakeSlack, url: str, runs: int) -> None:
    """Queue `runs` three-event runs in their own channels, through the relay's own webhook."""
    from relay.app import create_app
    from relay.config import Settings
    from relay.services import Services
    from relay.wiring import feature_handlers

    store = Store.from_url(url)
    settings = Settings(database_url=url, echo_token=ECHO_TOKEN)
    client = create_app(services=Services(handlers=feature_handlers(),
                                          settings=settings, store=store, poster=None)).test_client()
    for index in range(runs):
        run = run_with_steps(index, f"#lease-{index}")
        step = stage_event("complete", run, stage_id=run["stages"][0]["id"])
        for event in (pipeline_event("starting", run), step, pipeline_event("complete", run)):
            assert client.post("/echo/events", json=event,
                               headers={"Authorization": f"Bearer {ECHO_TOKEN}"}).status_code == 202
    store.engine.dispose()


def retaken(url: str) -> list[dict[str, Any]]:
    """Deliveries tried more than once: here, only those whose lease ran out (nothing else fails)."""
    store = Store.from_url(url)
    try:
        return [row for row in store.list_deliveries(limit=1000) if row["attempts"] > 0]
    finally:
        store.engine.dispose()


def test_a_killed_workers_claims_are_retaken_after_the_lease_and_nothing_is_lost(
        cluster, fake_slack: FakeSlack, postgres_schema_url: str) -> None:
    runs = 3
    queue_runs(fake_slack, postgres_schema_url, runs)
    fake_slack.fail_next("chat.postMessage", delay=60.0)  # holds the first delivery in flight
    # One delivery thread: the victim holds one post in flight when killed (busy lanes: tests/test_lanes.py).
    victim = cluster("worker", RELAY_LEASE_SECONDS="2", RELAY_DELIVERY_CONCURRENCY="1")
    [in_flight] = fake_slack.wait_for_calls("chat.postMessage", 1, timeout=30)
    assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
    survivor = cluster("worker", RELAY_LEASE_SECONDS="2")

    wait_until(lambda: statuses(postgres_schema_url) == {SENT: runs * 3}, 60, "every delivery to be sent",
               [victim, survivor])
    [taken_over] = retaken(postgres_schema_url)  # the victim's one lease, on the post it had in flight
    assert (taken_over["status"], taken_over["attempts"]) == (SENT, 1)
    # The call in flight may have reached Slack before the worker died, so that one message is sent again
    # by the survivor (at least once across a crash); every other message is sent exactly once.
    texts = Counter(call.params["text"] for call in fake_slack.calls_to("chat.postMessage"))
    assert texts[in_flight.params["text"]] == 2
    others = [count for text, count in texts.items() if text != in_flight.params["text"]]
    assert others == [1] * (runs * 2 - 1)
    assert len(fake_slack.calls_to("chat.update")) == runs


def test_a_stopped_worker_finishes_the_delivery_in_flight_and_hands_back_the_rest(
        cluster, fake_slack: FakeSlack, postgres_schema_url: str) -> None:
    runs = 3
    queue_runs(fake_slack, postgres_schema_url, runs)
    fake_slack.fail_next("chat.postMessage", delay=1.0)
    stopping = cluster("worker", RELAY_DELIVERY_CONCURRENCY="1")  # busy lanes: tests/test_lanes.py
    [in_flight] = fake_slack.wait_for_calls("chat.postMessage", 1, timeout=30)
    assert stopping.stop(signal.SIGTERM) == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert statuses(postgres_schema_url) == {SENT: 1, PENDING: runs * 3 - 1}

    successor = cluster("worker")
    wait_until(lambda: statuses(postgres_schema_url) == {SENT: runs * 3}, 60, "every delivery to be sent",
               [stopping, successor])
    texts = Counter(call.params["text"] for call in fake_slack.calls_to("chat.postMessage"))
    assert set(texts.values()) == {1} and len(texts) == runs * 2
    assert in_flight.params["text"] in texts
    assert FAILED not in statuses(postgres_schema_url)
