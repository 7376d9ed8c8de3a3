"""Fault injection between the relay and Slack: outages, timeouts, lost answers and rate limits, with the
webhook and the dispatcher wired to a real FakeSlack and a migrated store, the dispatcher's clock driven."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from relay.app import create_app
from relay.clients.slack import SlackPoster, build_client
from relay.config import Settings
from relay.delivery.dispatcher import MAX_BACKOFF_SECONDS, Dispatcher
from relay.services import Services
from relay.store import SENT, Store
from relay.wiring import feature_handlers
from tests.fakes import Call, FakeSlack
from tests.judgment_world import Clock
from tests.tally import run_id, run_started, tally

CHANNELS = ("#deploys", "#payments", "#search")
SLACK_TIMEOUT = 1.0  # the relay's Slack client timeout in these tests; slack_sdk takes whole seconds


@dataclass
class Relay:
    """The webhook (Flask test client) and a dispatcher sharing one store, posting to `slack`."""

    client: FlaskClient
    dispatcher: Dispatcher
    store: Store
    slack: FakeSlack
    clock: Clock

    def accept(self, numbers: range) -> dict[str, str]:
        """Post one run-starting event per number, spread over CHANNELS; the accepted runs, by channel."""
        accepted = {}
        for number in numbers:
            channel = CHANNELS[number % len(CHANNELS)]
            response = self.client.post("/echo/events", json=run_started(number, channel))
            if response.status_code == 202 and response.json["notifications"] == 1:
                accepted[run_id(number)] = channel
        return accepted

    def dispatch_until_idle(self, *, max_passes: int = 500) -> int:
        """Run dispatcher passes, jumping the clock to the next due delivery (or by a second while a channel
        is held), until nothing is pending; returns the passes run."""
        for passes in range(1, max_passes + 1):
            if self.dispatcher.run_once():
                continue
            due = self.store.next_due()
            if due is None:
                return passes
            self.clock.advance(max(1.0, due - self.clock()))
        raise AssertionError(f"deliveries still pending after {max_passes} passes: "
                             f"{self.store.counts_by_status()}")

    def dispatch_rounds(self, rounds: int) -> None:
        """Let the dispatcher try every pending delivery `rounds` times, however they fail: past the longest
        backoff, everything pending is due."""
        for _ in range(rounds):
            self.clock.advance(MAX_BACKOFF_SECONDS + 1)
            while self.dispatcher.run_once():
                pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def relay(migrated_store: Store, slack: FakeSlack, clock: Clock) -> Relay:
    """On SQLite and on PostgreSQL."""
    store = migrated_store
    settings = Settings(database_url=store.engine.url.render_as_string(hide_password=False),
                        slack_bot_token=slack.token, slack_api_url=slack.api_url, channel_interval=0.0)
    poster = SlackPoster(build_client(token=slack.token, base_url=slack.api_url, timeout=SLACK_TIMEOUT))
    services = Services(handlers=feature_handlers(),
                        settings=settings, store=store, poster=poster, clock=clock)
    client = create_app(settings, services=services).test_client()
    return Relay(client=client, dispatcher=services.dispatcher(clock=clock), store=store, slack=slack,
                 clock=clock)


def test_faults_slack_outage_and_timeouts_then_recovery_deliver_everything_once(relay: Relay) -> None:
    """Slack answers 503 pages, then 500s after the client timed out (Slack did nothing), then recovers:
    every accepted notification arrives once. No duplicate is possible here: no failed call took effect."""
    accepted = relay.accept(range(12))
    relay.slack.set_down(503)
    relay.dispatch_rounds(3)
    relay.slack.set_up()
    relay.slack.fail_next("chat.postMessage", status=500, delay=SLACK_TIMEOUT + 0.5, count=2)
    relay.dispatch_rounds(1)
    relay.slack.fail_next("chat.postMessage", status=500, count=3)
    relay.dispatch_until_idle()

    result = tally(relay.slack, accepted)
    print(result.line())
    assert len(accepted) == 12
    assert result.lost == 0 and result.duplicates == 0
    assert relay.store.counts_by_status() == {SENT: 12}
    # Every delivery met the outage three times, and each injected fault was met once.
    assert len(relay.slack.calls_to("chat.postMessage")) == 12 + 12 * 3 + 2 + 3


def test_faults_slack_lost_answers_are_retried_and_duplicate_only_those(relay: Relay) -> None:
    """Slack posts the message but its answer arrives after the client gave up (a lost response): the relay
    cannot tell this from a failure, retries, and the message appears twice. Delivery is at least once; the
    duplicates are exactly the lost answers, and nothing is lost."""
    accepted = relay.accept(range(6))
    relay.slack.fail_next("chat.postMessage", delay=SLACK_TIMEOUT + 0.5, count=2)
    relay.dispatch_until_idle()
    # The late answers' messages land after the relay has moved on.
    relay.slack.wait_for(lambda: sum(len(relay.slack.messages(c)) for c in CHANNELS) >= 6 + 2, timeout=5)

    result = tally(relay.slack, accepted)
    print(result.line())
    assert result.lost == 0
    assert result.duplicates == 2


def test_faults_slack_retry_after_holds_only_the_limited_channel(relay: Relay) -> None:
    """One 429 asking for 30 s: nothing more goes to that channel for 30 s, the other channels carry on, and
    every notification arrives once."""
    relay.slack.fail_next("chat.postMessage", status=429, retry_after=30)
    accepted = relay.accept(range(9))
    relay.dispatch_until_idle()

    result = tally(relay.slack, accepted)
    print(result.line())
    assert result.lost == 0 and result.duplicates == 0
    limited, *later = relay.slack.calls_to("chat.postMessage")
    held = relay.slack.channel_id(limited.params["channel"])
    same_channel = [call for call in later if relay.slack.channel_id(call.params["channel"]) == held]
    others_meanwhile = [call for call in later if call not in same_channel and call.at < limited.at + 30]
    assert same_channel and min(call.at for call in same_channel) >= limited.at + 30
    assert others_meanwhile


def test_faults_slack_pace_limits_are_waited_out(relay: Relay) -> None:
    """Slack's own limit of about one post a second per channel, met with the relay's pacing switched off:
    after each 429 (Retry-After: 1) the relay's next post to that channel comes at least a second later, and
    every notification arrives once."""
    relay.slack.channel_interval = 1.0
    accepted = relay.accept(range(9))
    relay.dispatch_until_idle()

    result = tally(relay.slack, accepted)
    print(result.line())
    assert result.lost == 0 and result.duplicates == 0
    limited = _paced_out(relay.slack, interval=1.0)
    assert len(limited) == relay.slack.rate_limited > 0
    for call, following in limited:
        assert following is not None and following.at >= call.at + 1.0  # Retry-After is at least 1 s


def _paced_out(slack: FakeSlack, *, interval: float) -> list[tuple[Call, Call | None]]:
    """The calls Slack's per-channel limit refused (one within `interval` of the channel's last accepted
    post), each with the next call to the same channel."""
    calls = slack.calls_to("chat.postMessage")
    last_accepted: dict[str, float] = {}
    refused = []
    for index, call in enumerate(calls):
        channel = slack.channel_id(call.params["channel"])
        if channel in last_accepted and call.at - last_accepted[channel] < interval:
            same_channel = (later for later in calls[index + 1:]
                            if slack.channel_id(later.params["channel"]) == channel)
            following = next(same_channel, None)
            refused.append((call, following))
        else:
            last_accepted[channel] = call.at
    return refused
