"""What the /spinnaker tests share: a relay wired to the fakes, signed Slack requests, slash commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask.testing import FlaskClient

from relay.config import Settings
from relay.models import ApproverPolicy, RelayRules
from relay.services import Services
from relay.wiring import build_services
from tests.fakes import FakeSlack
from tests.judgment_world import Clock
from tests.slack_requests import SIGNING_SECRET, form, signed

ALICE, BOB = "U0ALICE00", "U0BOB0000"


def only(*users: str) -> ApproverPolicy:
    return ApproverPolicy(users=frozenset(users))


def relay_services(slack: FakeSlack, tmp_path: Path, *, gate_url: str | None = None,
                   rules: RelayRules | None = None, echo_token: str = "echo-token-of-the-relay",
                   database_url: str | None = None, command_rate: int = Settings.command_rate) -> Services:
    """Services on a database (a fresh SQLite file unless given), talking to the fake Slack (and a fake Gate
    when given)."""
    settings = Settings(slack_bot_token=slack.token, slack_signing_secret=SIGNING_SECRET,
                        slack_api_url=slack.api_url, slack_app_token=slack.app_token, gate_url=gate_url,
                        echo_token=echo_token, command_rate=command_rate,
                        database_url=database_url or f"sqlite:///{tmp_path / 'relay.sqlite3'}",
                        channel_interval=0.0, spinnaker_ui_url="https://spinnaker.example.com",
                        rules=rules or RelayRules())
    services = build_services(settings)
    services.store.create_schema()
    slack.add_user(ALICE, email="alice@example.com", name="alice")
    slack.add_user(BOB, email="bob@example.com", name="bob")
    return services


def command_fields(slack: FakeSlack, text: str, *, user: str = ALICE,
                   channel: str = "#deploys") -> dict[str, str]:
    """`/spinnaker <text>` as Slack posts it, with a fresh trigger_id and response_url."""
    return {
        "token": "deprecated-verification-token", "team_id": slack.team_id, "team_domain": "relay-test",
        "channel_id": slack.channel_id(channel), "channel_name": channel.lstrip("#"), "user_id": user,
        "user_name": user.lower(), "command": "/spinnaker", "text": text, "api_app_id": slack.app_id,
        "is_enterprise_install": "false", "response_url": slack.new_response_url(channel=channel, user=user),
        "trigger_id": slack.issue_trigger(),
    }


def post_signed(url: str, body: bytes, *, timeout: float = 10.0) -> requests.Response:
    """POST a body signed the way Slack signs it, over HTTP."""
    return requests.post(url, data=body, headers=signed(body), timeout=timeout)


def form_body(fields: dict[str, str]) -> bytes:
    """A slash command's body: its fields, form-encoded (no `payload` wrapper, unlike interactions)."""
    return urlencode(fields).encode()


def run_jobs(services: Services) -> int:
    """Run every due delivery and job until none is left; returns how many were handled."""
    dispatcher = services.dispatcher()
    handled = total = dispatcher.run_once()
    while handled:
        handled = dispatcher.run_once()
        total += handled
    return total


def hand_clock(services: Services) -> Clock:
    """Give the relay a clock the test moves on, to bring retried jobs due without waiting."""
    clock = Clock(time.time())
    services.clock = clock
    return clock


def answers(slack: FakeSlack, response_url: str) -> list[dict[str, Any]]:
    """The bodies posted to one response_url, in order."""
    path = urlsplit(response_url).path
    return [body for posted, body in slack.webhook_posts if posted == path]


def block_texts(body: dict[str, Any]) -> list[str]:
    """The mrkdwn of each section in a message body."""
    return [block["text"]["text"] for block in body.get("blocks", [])
            if block["type"] == "section" and "text" in block]


def slash(client: FlaskClient, slack: FakeSlack, text: str, *, user: str = ALICE,
          channel: str = "#deploys") -> tuple[dict[str, Any] | None, str]:
    """Type `/spinnaker <text>`: the ack's body (None when it is empty) and the command's response_url."""
    fields = command_fields(slack, text, user=user, channel=channel)
    body = form_body(fields)
    response = client.post("/slack/commands", data=body, headers=signed(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    return (response.get_json() if response.data else None), fields["response_url"]


def click_ephemeral(client: FlaskClient, slack: FakeSlack, element: dict[str, Any], *, user: str = ALICE,
                    block_id: str = "b0", state: dict[str, Any] | None = None) -> str:
    """`user` clicks `element` in block `block_id` of an ephemeral message in #deploys, as Slack reports it
    (no `message`, and the inputs of the message in `state`); returns the click's response_url."""
    response_url = slack.new_response_url(channel="#deploys", user=user)
    action = {"type": element["type"], "action_id": element["action_id"], "block_id": block_id,
              "action_ts": "1700000000.000100", **{k: element[k] for k in ("value", "text") if k in element}}
    interaction = {"type": "block_actions", "user": {"id": user}, "trigger_id": slack.issue_trigger(),
                   "response_url": response_url, "actions": [action], "state": {"values": state or {}},
                   "container": {"type": "message", "is_ephemeral": True,
                                 "channel_id": slack.channel_id("#deploys")}}
    raw = form(interaction)
    response = client.post("/slack/interactions", data=raw, headers=signed(raw))
    assert (response.status_code, response.data) == (200, b""), response.get_data(as_text=True)
    return response_url
