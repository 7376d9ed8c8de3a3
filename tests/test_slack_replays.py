"""Signed Slack requests replayed inside the 5-minute signature window, against a running relay over real
HTTP: each takes effect once, and a Reject is only ever applied from its submitted reason modal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import events
from tests.chatops import command_fields, form_body
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack, Message
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    ECHO_TOKEN,
    JUDGMENT_CHANNEL,
    OTHER,
    OTHER_EMAIL,
    RELAY_IDENTITY,
    STAGE_ID,
    buttons,
)
from tests.served import Served, served_relay
from tests.slack_requests import block_actions, form, signed

pytestmark = pytest.mark.slow

DEPLOY = {"application": "compute", "id": "deploy-config", "name": "Deploy",
          "parameterConfig": [{"name": "version", "label": "Version", "required": True}]}


@dataclass
class World:
    """A running relay between a fake Slack and a fake Gate."""

    served: Served
    slack: FakeSlack
    gate: FakeGate

    def send(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.served.post(path, raw, headers)
        return response.status_code, response.content

    def judgment_message(self) -> Message:
        """Echo reports the Manual Judgment stage; the message with its buttons, once posted."""
        run = events.execution()
        self.gate.add_execution(run)
        event = events.stage_event("starting", run, stage_id=STAGE_ID)
        accepted = self.served.post("/echo/events/", json.dumps(event).encode(), {
            "Authorization": f"Bearer {ECHO_TOKEN}", "Content-Type": "application/json"})
        assert accepted.status_code == 202
        return self.slack.wait_for(lambda: next((m for m in self._replies() if buttons(m)), None), timeout=20)

    def click(self, message: Message, action_id: str, user: str) -> tuple[bytes, dict[str, str]]:
        """A signed click, as Slack would post it; returns the request, for replaying."""
        raw = form(block_actions(message, action_id, user=user, trigger_id=self.slack.issue_trigger(),
                                 response_url=self.slack.new_response_url()))
        return raw, signed(raw)

    def told(self, user: str) -> list[str]:
        return [message.text for message in self.slack.ephemerals() if message.visible_to == user]

    def patches(self) -> list[str]:
        return [call.body["judgmentStatus"] for call in self.gate.calls_to("judge")]

    def _replies(self) -> list[Message]:
        return [reply for parent in self.slack.messages(JUDGMENT_CHANNEL)
                for reply in self.slack.replies(JUDGMENT_CHANNEL, parent.ts)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    config = tmp_path / "relay.yaml"
    config.write_text(f"approvers:\n  compute:\n    users: [{APPROVER}, {OTHER}]\n"
                      f"runners:\n  compute:\n    users: [{APPROVER}]\n"
                      f"cancelers:\n  compute:\n    users: [{APPROVER}]\n")
    with FakeSlack() as slack, FakeGate(identity=RELAY_IDENTITY) as gate:
        for user, email in ((APPROVER, APPROVER_EMAIL), (OTHER, OTHER_EMAIL)):
            slack.add_user(user, email=email)
        gate.add_pipeline_config(DEPLOY)
        # One job thread: jobs run in the order they were queued, so a later request's effect shows that
        # any replay queued before it would have taken effect too.
        with served_relay(tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.api_url,
                          GATE_URL=gate.url, RELAY_ECHO_TOKEN=ECHO_TOKEN, RELAY_CONFIG=str(config),
                          RELAY_JOB_CONCURRENCY="1") as served:
            yield World(served, slack, gate)


def test_replayed_run_submission_starts_one_run(world: World) -> None:
    command = form_body(command_fields(world.slack, "run compute Deploy", user=APPROVER))
    assert world.send("/slack/commands", command, signed(command)) == (200, b"")
    view = world.slack.wait_for(lambda: next((v for v in world.slack.views() if _has_parameters(v)), None),
                                timeout=20)
    raw = _submission(view, version="1.0")
    headers = signed(raw)

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: world.send("/slack/interactions", raw, headers), range(3)))
    later = _submission(view, version="2.0")  # a distinct submission: once it ran, so would any replay
    assert world.send("/slack/interactions", later, signed(later)) == (200, b"")
    world.gate.wait_for(lambda: "2.0" in _versions(world.gate), timeout=20)

    assert answers == [(200, b"")] * 3
    assert _versions(world.gate) == ["1.0", "2.0"]


def test_replayed_reject_click_after_the_modal_closed_stops_nothing(world: World) -> None:
    message = world.judgment_message()
    raw, headers = world.click(message, "judgment.reject", APPROVER)
    assert world.send("/slack/interactions", raw, headers) == (200, b"")
    assert [view["callback_id"] for view in world.slack.views()] == ["judgment.reason"]

    replayed = world.send("/slack/interactions", raw, headers)  # the modal was closed without submitting
    assert world.send("/slack/interactions", *world.click(message, "judgment.choose.0", OTHER)) == (200, b"")
    world.gate.wait_for(world.patches, timeout=20)

    assert replayed == (200, b"")
    assert world.patches() == ["continue"]


def test_reject_whose_modal_cannot_open_asks_to_click_again_and_stops_nothing(world: World) -> None:
    message = world.judgment_message()
    world.slack.fail_next("views.open", error="expired_trigger_id")

    assert world.send("/slack/interactions", *world.click(message, "judgment.reject", APPROVER)) == (200, b"")
    told = world.slack.wait_for(lambda: world.told(APPROVER), timeout=20)
    assert world.send("/slack/interactions", *world.click(message, "judgment.choose.0", OTHER)) == (200, b"")
    world.gate.wait_for(world.patches, timeout=20)

    assert told == [":warning: Nothing was rejected: Slack did not open the form for your reason "
                    "(expired_trigger_id). Click the button again."]
    assert world.patches() == ["continue"]


def test_replayed_slash_command_is_acknowledged_and_runs_once(world: World) -> None:
    run_id = events.execution()["id"]
    raw = form_body(command_fields(world.slack, f"cancel {run_id}", user=APPROVER))
    headers = signed(raw)

    first = world.served.post("/slack/commands", raw, headers)
    replays = [world.send("/slack/commands", raw, headers) for _ in range(2)]
    later = form_body(command_fields(world.slack, "pause 01LATERRUN", user=APPROVER))
    assert world.send("/slack/commands", later, signed(later))[0] == 200
    world.gate.wait_for(lambda: _lookups(world.gate, "01LATERRUN"), timeout=20)

    assert first.json()["text"].startswith(":mag: Looking up run")
    assert replays == [(200, b"")] * 2
    assert len(_lookups(world.gate, run_id)) == 1


def _has_parameters(view: dict[str, Any]) -> bool:
    return any(str(block.get("block_id", "")).startswith("param:") for block in view.get("blocks", []))


def _submission(view: dict[str, Any], *, version: str) -> bytes:
    state = {"param:version": {"value": {"type": "plain_text_input", "value": version}}}
    return form({"type": "view_submission", "user": {"id": APPROVER},
                 "view": {**view, "state": {"values": state}}})


def _versions(gate: FakeGate) -> list[str]:
    return [call.body["parameters"]["version"] for call in gate.calls_to("trigger")]


def _lookups(gate: FakeGate, run_id: str) -> list[Any]:
    return [call for call in gate.calls_to("get_execution") if call.path.endswith(f"/{run_id}")]
