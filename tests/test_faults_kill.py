"""Fault injection on the relay itself: `serve` and `worker` as real processes, killed with SIGKILL while
events arrive and a delivery is in flight, then started again on the same database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes import FakeSlack
from tests.processes import Relay, free_port, relay_environment, stop_all, wait_healthy
from tests.tally import all_delivered, run_id, run_started, tally

CHANNELS = ("#deploys", "#payments", "#search", "#infra")
ECHO_TOKEN = "kill-test-echo-token"
SLACK_DELAY = 0.2  # every post takes this long, so one is nearly always in flight


class Sender:
    """Posts run-starting events to the webhook from a thread, like Echo does, until stopped; keeps the runs
    that got a 2xx. Refused connections while the relay is down are expected and not retried."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: dict[str, str] = {}
        self.accepted_changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="echo-sender", daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def wait_for_accepted(self, count: int, timeout: float = 30.0) -> None:
        with self.accepted_changed:
            if not self.accepted_changed.wait_for(lambda: len(self.accepted) >= count, timeout):
                raise AssertionError(f"only {len(self.accepted)} events accepted within {timeout:g}s")

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {ECHO_TOKEN}"}
        number = 0
        with requests.Session() as session:
            session.trust_env = False
            while not self._stop.is_set():
                channel = CHANNELS[number % len(CHANNELS)]
                try:
                    response = session.post(self.url, json=run_started(number, channel), headers=headers,
                                            timeout=5)
                except requests.RequestException:
                    response = None
                if response is not None and 200 <= response.status_code < 300:
                    with self.accepted_changed:
                        self.accepted[run_id(number)] = channel
                        self.accepted_changed.notify_all()
                number += 1
                self._stop.wait(0.02)  # Echo's pace here: about 50 events a second


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server
    assert server.errors == []


@pytest.mark.slow
def test_faults_kill_relay_mid_flight_loses_no_accepted_event(tmp_path: Path, slack: FakeSlack,
                                                               db_url: str) -> None:
    """Every event that got a 2xx is delivered after a SIGKILL of serve and worker and a restart. One
    duplicate per channel is possible in principle, and is provoked here: the posts the worker had in flight
    when it died (one per channel at most, side by side) reached Slack, but their answers never reached the
    relay, so the restarted worker posts them again once their leases (2 s here) have run out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = relay_environment(SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.api_url,
                            RELAY_ECHO_TOKEN=ECHO_TOKEN, RELAY_DATABASE_URL=db_url,
                            RELAY_CHANNEL_INTERVAL="0", RELAY_LEASE_SECONDS="2", RELAY_LOG_LEVEL="WARNING")
    slack.fail_next("chat.postMessage", delay=SLACK_DELAY, count=1_000_000)
    relays: list[Relay] = []

    def start(life: int) -> None:
        server = Relay(["serve", "--upgrade", "--no-dispatcher", "--bind", f"127.0.0.1:{port}"], env,
                       tmp_path / f"serve-{life}.log")
        relays.append(server)
        wait_healthy(url, server)
        relays.append(Relay(["worker"], env, tmp_path / f"worker-{life}.log"))

    sender = Sender(url + "/echo/events")
    try:
        start(1)
        sender.start()
        sender.wait_for_accepted(20)
        in_flight = len(slack.calls_to("chat.postMessage")) + 1
        slack.wait_for_calls("chat.postMessage", in_flight, timeout=15)  # a post has just begun
        for relay in relays:
            relay.kill()
        accepted_before_kill = len(sender.accepted)
        start(2)
        sender.wait_for_accepted(accepted_before_kill + 20)
        sender.stop()
        slack.wait_for(lambda: all_delivered(slack, sender.accepted), timeout=30,
                       description=f"the {len(sender.accepted)} accepted runs in Slack")
    finally:
        sender.stop()
        stop_all(relays)

    result = tally(slack, sender.accepted)
    print(result.line())
    assert result.lost == 0, result.lost_runs
    assert result.duplicates <= len(CHANNELS)
