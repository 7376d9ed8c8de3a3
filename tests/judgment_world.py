"""A relay wired to a fake Slack and a fake Gate, for end-to-end judgment tests driven by a hand clock."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from relay.app import create_app
from relay.clients.gate import GateClient
from relay.clients.slack_signature import SlackVerifier
from relay.config import Settings
from relay.delivery.dispatcher import Dispatcher
from relay.models import ApproverPolicy, RelayRules
from relay.services import Services
from relay.store import Judgment, Store, migrate
from relay.wiring import build_services
from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack, Message
from tests.live import serving
from tests.slack_requests import SIGNING_SECRET, block_actions, elements, form, signed, view_submission

ECHO_TOKEN = "echo-token-of-the-relay"
APPROVER, APPROVER_EMAIL = "U0APPROVER", "approver@example.com"
OTHER, OTHER_EMAIL = "U0OTHER", "other@example.com"
STARTER, STARTER_EMAIL = "U0STARTER", "alice@example.com"  # tests.events.execution() is started by alice
STRANGER = "U0STRANGER"
RELAY_IDENTITY = "relay-bot@example.com"
JUDGMENT_CHANNEL = "playback-features"  # where the fixture stage's own notification goes
STAGE_ID = events.JUDGMENT_STAGE_ID


class Clock:
    """A hand-driven clock (epoch seconds) shared by the relay, its dispatcher, its signature check and the
    fake Gate. `now()` makes it a slack_sdk signature Clock too."""

    def __init__(self, now: float = 1_767_000_000.0) -> None:
        self.now_value = now

    def __call__(self) -> float:
        return self.now_value

    def now(self) -> float:
        return self.now_value

    def advance(self, seconds: float) -> None:
        self.now_value += seconds


@dataclasses.dataclass
class World:
    """Everything a judgment test touches, with methods that act like Echo and like people in Slack."""

    slack: FakeSlack
    gate: FakeGate
    clock: Clock
    services: Services
    app: Flask
    client: FlaskClient
    dispatcher: Dispatcher
    url: str | None = None  # where the relay serves HTTP, when the world was built with `http=True`

    @property
    def store(self) -> Store:
        return self.services.store

    def echo(self, event: dict[str, Any]) -> TestResponse:
        """Echo posts an event to the relay."""
        headers = {"Authorization": f"Bearer {ECHO_TOKEN}"}
        return self.client.post("/echo/events/", json=event, headers=headers)

    def drain(self) -> None:
        """Run the dispatcher until nothing is due at the current time (a pass that only skips superseded
        updates handles nothing, yet leaves the next update due)."""
        for _ in range(100):
            done = self.dispatcher.run_once()
            due = self.store.next_due()
            if not done and (due is None or due > self.clock()):
                return
        raise AssertionError("the dispatcher never went idle")

    def start_judgment(self, execution: dict[str, Any] | None = None) -> Message:
        """Orca starts the Manual Judgment stage: Gate holds the run, Echo reports the stage, the relay posts
        the message with buttons. Returns that message."""
        run = copy.deepcopy(execution or events.execution())
        stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
        stage["startTime"] = int(self.clock() * 1000)  # the stage starts now, so its deadline lies ahead
        self.gate.add_execution(run)
        assert self.echo(events.stage_event("starting", run, stage_id=STAGE_ID)).status_code == 202
        self.drain()
        return self.judgment_message()

    def judgment_message(self, channel: str = JUDGMENT_CHANNEL) -> Message:
        """The stage's message in `channel` as Slack shows it now (the one the message map points at)."""
        ref = self.store.message(f"{events.execution()['id']}/{STAGE_ID}@{channel}")
        assert ref is not None, "the judgment message was never posted"
        message = self.slack.message(ref.channel, ref.ts)
        assert message is not None
        return message

    def click(self, message: Message, action_id: str, *, user: str,
              selected: str | None = None) -> TestResponse:
        """`user` clicks an element of `message` (after confirming its dialog)."""
        body = block_actions(message, action_id, user=user, trigger_id=self.slack.issue_trigger(),
                             response_url=self.slack.new_response_url(channel=message.channel, ts=message.ts,
                                                                      user=user), selected=selected)
        return self.interact(body)

    def submit_reason(self, *, user: str, reason: str) -> TestResponse:
        """`user` types a reason into the last modal the relay opened, and submits it."""
        view = self.slack.views()[-1]
        return self.interact(view_submission(view, user=user, values={"reason_text": reason}))

    def interact(self, body: dict[str, Any]) -> TestResponse | requests.Response:
        """Slack posts an interaction: over HTTP when the world serves it, else through the test client."""
        raw = form(body)
        if self.url is not None:
            headers = {**self.signed(raw), "Content-Type": "application/x-www-form-urlencoded"}
            return requests.post(f"{self.url}/slack/interactions", data=raw, headers=headers, timeout=10)
        return self.client.post("/slack/interactions", data=raw, headers=self.signed(raw))

    def signed(self, raw: bytes, **options: Any) -> dict[str, str]:
        """Headers of `raw` signed by Slack at the world's time (unless `timestamp` says otherwise)."""
        return signed(raw, **{"timestamp": int(self.clock()), **options})

    def judgments(self) -> list[Judgment]:
        return list(reversed(self.store.list_judgments()))

    def told(self, user: str) -> list[str]:
        """The ephemeral notes `user` received."""
        return [m.text for m in self.slack.ephemerals() if m.visible_to == user]


def buttons(message: Message) -> list[str]:
    """The action_ids of a message's judgment elements (the link to Spinnaker is not one)."""
    return [e["action_id"] for e in elements(message) if e["action_id"].startswith("judgment.")]


def text_of(message: Message) -> str:
    """All the mrkdwn and plain text of a message, for assertions about what it says."""
    parts = [message.text]
    for block in message.blocks:
        parts += [block.get("text", {}).get("text", "")] if isinstance(block.get("text"), dict) else []
        parts += [field["text"] for field in block.get("fields", [])]
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


@contextmanager
def judgment_world(tmp_path: Path, *, gate_options: dict[str, Any] | None = None,
                   http: bool = False,
                   **settings: Any) -> Iterator[World]:
    """Start the fakes, migrate a fresh database and build the relay around them. `gate_options` configure
    the fake Gate; `settings` override the relay's Settings. With `http`, the relay serves real HTTP on
    127.0.0.1 and clicks go through it."""
    clock = Clock()
    gate_options = {"identity": RELAY_IDENTITY, **(gate_options or {})}
    with FakeSlack() as slack, FakeGate(clock=clock, **gate_options) as gate:
        for user, email in ((APPROVER, APPROVER_EMAIL), (OTHER, OTHER_EMAIL), (STARTER, STARTER_EMAIL),
                            (STRANGER, "stranger@example.com")):
            slack.add_user(user, email=email)
        config = Settings(**{
            "slack_bot_token": slack.token, "slack_api_url": slack.api_url,
            "slack_signing_secret": SIGNING_SECRET, "gate_url": gate.url,
            "database_url": f"sqlite:///{tmp_path / 'relay.sqlite3'}",
            "echo_token": ECHO_TOKEN, "channel_interval": 0.0,
            "rules": RelayRules(approvers={"compute": ApproverPolicy(users=frozenset({APPROVER, OTHER}))}),
            **settings})
        store = Store.from_url(config.database_url)
        migrate.upgrade(store)
        gate_client = GateClient(gate.url, timeout=config.gate_timeout,
                                 user_header=config.gate_user_header)
        services = build_services(config, store=store, clock=clock, gate=gate_client,
                                          verifier=SlackVerifier(config.slack_signing_secret, clock=clock))
        app = create_app(config, services=services)
        with _served(app, http) as url:
            yield World(slack=slack, gate=gate, clock=clock, services=services, app=app,
                        client=app.test_client(), dispatcher=services.dispatcher(), url=url)
        assert slack.errors == [] and gate.errors == []
        store.engine.dispose()


@contextmanager
def _served(app: Flask, http: bool) -> Iterator[str | None]:
    """The app behind a real HTTP server on 127.0.0.1 (its base URL), or nothing without `http`."""
    if not http:
        yield None
        return
    with serving(app) as url:
        yield url
