"""response_url is followed only to Slack: commands and clicks whose response_url points elsewhere are
answered nowhere, over real HTTP against a running relay, the fake Slack and a bystander server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from relay.app import create_app
from relay.clients.slack import is_slack_url
from relay.models import RelayRules
from relay.services import Services
from tests.chatops import ALICE, answers, command_fields, form_body, only, run_jobs
from tests.events import execution
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.live import Bystander, serving
from tests.slack_requests import form, signed

RUN_ID = "01D4NH3V9D1RK8GX4036M8BAXV"
ADMIN_PATH = "/internal-admin"
API = "http://127.0.0.1:8111/api/"


@pytest.fixture
def rules() -> RelayRules:
    return RelayRules(approvers={"compute": only(ALICE)}, cancelers={"compute": only(ALICE)})


@pytest.fixture
def relay_url(services: Services, gate: FakeGate) -> Iterator[str]:
    gate.add_execution(execution(id=RUN_ID, name="Deploy", status="RUNNING", startTime=1_700_000_000_000))
    with serving(create_app(services=services)) as url:
        yield url


@pytest.fixture
def admin() -> Iterator[Bystander]:
    with Bystander() as server:
        yield server


def slash(relay_url: str, slack: FakeSlack, text: str, response_url: str) -> None:
    """Post a signed `/spinnaker <text>` whose response_url is `response_url`."""
    body = form_body({**command_fields(slack, text), "response_url": response_url})
    response = requests.post(f"{relay_url}/slack/commands", data=body, headers=signed(body), timeout=10)
    assert response.status_code == 200, response.text


def click(relay_url: str, slack: FakeSlack, element: dict[str, Any], response_url: str) -> None:
    """Post a signed click on a button of an ephemeral message, carrying `response_url`."""
    action = {"type": element["type"], "action_id": element["action_id"], "block_id": "b0",
              "action_ts": "1700000000.000100", "value": element["value"], "text": element["text"]}
    raw = form({"type": "block_actions", "user": {"id": ALICE}, "trigger_id": slack.issue_trigger(),
                "response_url": response_url, "actions": [action], "state": {"values": {}},
                "container": {"type": "message", "is_ephemeral": True,
                              "channel_id": slack.channel_id("#deploys")}})
    response = requests.post(f"{relay_url}/slack/interactions", data=raw, headers=signed(raw), timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("text", ["status compute", "pending compute", f"cancel {RUN_ID}"])
def test_response_url_of_a_command_is_followed_only_to_slack(
        relay_url: str, slack: FakeSlack, services: Services, admin: Bystander, text: str,
        caplog: pytest.LogCaptureFixture) -> None:
    slash(relay_url, slack, text, admin.url + ADMIN_PATH)
    with caplog.at_level(logging.WARNING, logger="relay.commands.replies"):
        run_jobs(services)
    legit = slack.new_response_url(channel="#deploys", user=ALICE)
    slash(relay_url, slack, text, legit)
    run_jobs(services)

    assert admin.requests == []
    assert f"points at http://127.0.0.1:{admin.server.server_port}, not at Slack" in caplog.text
    assert len(answers(slack, legit)) == 1


def test_response_url_of_a_click_is_followed_only_to_slack(
        relay_url: str, slack: FakeSlack, services: Services, admin: Bystander) -> None:
    question = slack.new_response_url(channel="#deploys", user=ALICE)
    slash(relay_url, slack, f"cancel {RUN_ID}", question)
    run_jobs(services)
    [asked] = answers(slack, question)
    [actions] = [block for block in asked["blocks"] if block["type"] == "actions"]
    never_mind = next(b for b in actions["elements"] if b["text"]["text"] == "Never mind")

    click(relay_url, slack, never_mind, admin.url + ADMIN_PATH)
    run_jobs(services)
    legit = slack.new_response_url(channel="#deploys", user=ALICE)
    click(relay_url, slack, never_mind, legit)
    run_jobs(services)

    assert admin.requests == []
    assert answers(slack, legit) == [{"delete_original": True}]


@pytest.mark.parametrize(("url", "followed"), [
    ("https://hooks.slack.com/commands/T1/397700885554/96a8d7bc", True),
    ("https://HOOKS.slack.com/actions/T1/1/x", True),
    ("https://hooks.slack.com:443/actions/T1/1/x", True),
    ("http://127.0.0.1:8111/webhook/1", True),
    ("http://hooks.slack.com/actions/T1/1/x", False),
    ("https://hooks.slack.com:8443/actions/T1/1/x", False),
    ("https://hooks.slack.com.example.com/actions", False),
    ("https://example.com/hooks.slack.com/actions", False),
    ("https://hooks.slack.com@example.com/actions", False),
    ("https://user@hooks.slack.com/actions", False),
    ("https://example.com\\@hooks.slack.com/actions", False),
    ("https://hooks.slack.com:99999/actions", False),
    ("http://127.0.0.1:8112/internal-admin", False),
    ("https://127.0.0.1:8111/webhook/1", False),
    ("http://localhost:8111/webhook/1", False),
    ("ftp://hooks.slack.com/actions", False),
    ("hooks.slack.com/actions", False),
    ("", False),
])
def test_response_url_hosts_followed(url: str, followed: bool) -> None:
    assert is_slack_url(url, slack_api_url=API) is followed
