"""Pipeline authors choose the addresses an event notifies: the relay caps them per event, keeps to the
channel allow-list, and joins only channels it may. Events go over real HTTP to a running relay whose
dispatcher talks to the fake Slack."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from relay.app import create_app
from relay.config import Settings
from relay.models import RelayRules, Route
from relay.rules.addresses import join_refusal, permitted
from relay.services import Services
from relay.store import Store, migrate
from tests.events import execution, pipeline_event
from tests.fakes import FakeSlack
from tests.live import serving

ECHO_TOKEN = "echo-token-for-the-address-tests"
WHEN = ["pipeline.starting", "pipeline.complete", "pipeline.failed"]


def relay_services(slack: FakeSlack, tmp_path: Path, **options: Any) -> Services:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(url))
    settings = Settings(slack_bot_token=slack.token, slack_api_url=slack.api_url, echo_token=ECHO_TOKEN,
                        database_url=url, channel_interval=0.0, **options)
    return Services.from_settings(settings)


def send(relay_url: str, addresses: list[str], *, application: str = "compute") -> requests.Response:
    """Post a `pipeline.starting` event whose pipeline notifies `addresses`."""
    notifications = [{"type": "slack", "address": address, "when": WHEN} for address in addresses]
    event = pipeline_event("starting", execution(notifications=notifications, application=application))
    return requests.post(f"{relay_url}/echo/events/", json=event, timeout=30,
                         headers={"Authorization": f"Bearer {ECHO_TOKEN}"})


def drain(services: Services) -> None:
    """Run the dispatcher until nothing is pending."""
    dispatcher = services.dispatcher()
    while dispatcher.run_once():
        pass


Start = Callable[..., tuple[str, Services]]


@pytest.fixture
def start(slack: FakeSlack, tmp_path: Path) -> Iterator[Start]:
    """Start a relay served over HTTP with the given settings; returns its URL and services."""
    with ExitStack() as stack:
        def started(**options: Any) -> tuple[str, Services]:
            services = relay_services(slack, tmp_path, **options)
            stack.callback(services.store.engine.dispose)
            return stack.enter_context(serving(create_app(services=services))), services
        yield started


def refused_total(services: Services, reason: str) -> float | None:
    return services.metrics.registry.get_sample_value("relay_addresses_refused_total", {"reason": reason})


def test_addresses_over_the_limit_are_named_and_not_notified(
        start: Start, slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    url, services = start()
    addresses = [f"#team-{number:04d}" for number in range(3000)]

    with caplog.at_level(logging.WARNING, logger="relay.notifications.plan"):
        response = send(url, addresses)
    drain(services)

    assert response.status_code == 202
    answer = response.json()
    assert answer["notifications"] == 50
    assert answer["refused"] == {"overLimit": addresses[50:]}
    assert len(slack.calls_to("chat.postMessage")) == 50
    assert {call.params["channel"] for call in slack.calls_to("chat.postMessage")} == set(addresses[:50])
    assert "names 2950 addresses over the limit of 50 (RELAY_MAX_ADDRESSES_PER_EVENT)" in caplog.text
    assert "#team-0050, #team-0051" in caplog.text and "and 2930 more" in caplog.text
    assert refused_total(services, "overLimit") == 2950


def test_addresses_limit_is_configurable(start: Start, slack: FakeSlack) -> None:
    url, services = start(max_addresses_per_event=2)
    response = send(url, ["#one", "#two", "#three"])
    drain(services)
    assert (response.status_code, response.json()["refused"]) == (202, {"overLimit": ["#three"]})
    assert [call.params["channel"] for call in slack.calls_to("chat.postMessage")] == ["#one", "#two"]


def test_addresses_outside_the_allow_list_are_neither_joined_nor_posted_to(
        start: Start, slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    url, services = start(rules=RelayRules(channels={"compute": ("#deploys", "C0ALLOWED*")}))
    for channel in ("#deploys", "#secret-incidents"):
        slack.add_channel(channel, member=False)
    secret_id = slack.channel_id("#secret-incidents")

    with caplog.at_level(logging.WARNING, logger="relay.notifications.plan"):
        response = send(url, ["#deploys", "#secret-incidents", secret_id, "C0ALLOWED1"])
    drain(services)

    assert response.status_code == 202
    assert response.json()["refused"] == {"notAllowed": ["#secret-incidents", secret_id]}
    joined = [call.params["channel"] for call in slack.calls_to("conversations.join")]
    assert joined == [slack.channel_id("#deploys")]
    assert not slack.is_member("#secret-incidents")
    assert slack.messages("#secret-incidents") == []
    assert len(slack.messages("#deploys")) == 1
    assert "2 addresses the channel allow-list does not permit" in caplog.text
    assert refused_total(services, "notAllowed") == 2


def test_addresses_of_the_relays_routes_are_kept_and_joined(start: Start, slack: FakeSlack) -> None:
    route = Route(application="compute", pipeline="*", when=("pipeline.starting",), channel="#ops")
    url, services = start(max_addresses_per_event=1,
                          rules=RelayRules(routes=(route,), channels={"compute": ("#deploys", "#also-*")}))
    slack.add_channel("#ops", member=False)

    response = send(url, ["#deploys", "#also-allowed-but-over", "#secret"])
    drain(services)

    assert response.json()["refused"] == {"overLimit": ["#also-allowed-but-over"], "notAllowed": ["#secret"]}
    assert slack.is_member("#ops")
    assert len(slack.messages("#ops")) == 1
    assert len(slack.messages("#deploys")) == 1
    assert slack.messages("#secret") == []


def test_addresses_of_an_application_the_allow_list_does_not_name_are_all_refused(
        start: Start, slack: FakeSlack) -> None:
    url, services = start(rules=RelayRules(channels={"payments*": ("#payments",)}))
    response = send(url, ["#deploys"], application="compute")
    drain(services)
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert response.json()["reason"] == "every address was refused"
    assert response.json()["refused"] == {"notAllowed": ["#deploys"]}
    assert slack.calls_to("chat.postMessage") == []


def test_addresses_are_never_joined_when_joining_is_off(start: Start, slack: FakeSlack) -> None:
    url, services = start(join_channels=False)
    slack.add_channel("#deploys", member=False)
    assert send(url, ["#deploys"]).status_code == 202
    drain(services)
    assert slack.calls_to("conversations.join") == []
    (delivery,) = services.store.list_deliveries()
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == \
        "not_in_channel (cannot join: joining channels is off (RELAY_JOIN_CHANNELS))"


@pytest.mark.parametrize(("application", "address", "allowed"), [
    ("payments-eu", "#payments-deploys", True),
    ("PAYMENTS-EU", "payments-deploys", True),
    ("payments-eu", "#PAYMENTS-DEPLOYS", True),
    ("payments-eu", "C0PAY0001", True),
    ("payments-eu", "#deploys", False),
    ("payments-eu", "C0OTHER01", False),
    ("compute", "#deploys", True),
    ("compute", "#payments-deploys", False),
    ("unknown", "#deploys", False),
    (None, "#deploys", False),
])
def test_addresses_allow_list_first_matching_application_decides(application: str | None, address: str,
                                                                 allowed: bool) -> None:
    allow_list = {"payments*": ("#payments-*", "C0PAY*"), "compute": ("deploys",)}
    assert permitted(allow_list, application, address) is allowed


def test_addresses_without_an_allow_list_every_address_is_permitted() -> None:
    assert permitted({}, None, "#anything")


@pytest.mark.parametrize(("options", "refusal"), [
    ({}, None),
    ({"join_channels": False}, "joining channels is off (RELAY_JOIN_CHANNELS)"),
    ({"rules": RelayRules(channels={"compute": ("#deploys",)})}, None),
    ({"rules": RelayRules(channels={"compute": ("#other",)})}, "the channel allow-list does not permit it"),
    ({"rules": RelayRules(channels={"compute": ("#other",)},
                          routes=(Route(application="comp*", pipeline="*", when=("pipeline.failed",),
                                        channel="deploys"),))}, None),
    ({"rules": RelayRules(channels={"compute": ("#other",)},
                          routes=(Route(application="billing", pipeline="*", when=("pipeline.failed",),
                                        channel="#deploys"),))}, "the channel allow-list does not permit it"),
])
def test_addresses_join_refusal(options: dict[str, Any], refusal: str | None) -> None:
    assert join_refusal(Settings(**options), "#deploys", "compute") == refusal
