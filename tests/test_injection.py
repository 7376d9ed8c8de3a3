"""Mentions, broadcasts and links written into any field the relay shows (events, Gate's answers, what people
type, labels from the configuration) reach Slack escaped, over real HTTP with the Slack and Gate doubles."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from relay.app import create_app
from relay.models import ApproverPolicy, RelayRules
from relay.services import Services
from tests import events
from tests.chatops import ALICE, BOB, command_fields, form_body, relay_services, run_jobs
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.judgment_world import APPROVER, JUDGMENT_CHANNEL, judgment_world
from tests.live import serving
from tests.slack_requests import block_actions, form, signed, view_submission

TOKENS = ("<!channel>", "<!here>", "<!subteam^S1>", "<@U1>", "<https://x|y>")
HOSTILE = " ".join(TOKENS)
# Custom text keeps the mentions and links its pipeline author wrote on purpose; broadcasts never survive.
BROADCASTS = "<!channel> <!here> <!everyone>"
ECHO_TOKEN = "echo-token-of-sixteen-chars"
SENDING = {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.update",
           "response_url"}
DECK = "https://spinnaker.example.com"


@dataclass
class LiveRelay:
    """The relay behind a real HTTP server, and every body it answered Slack with."""

    url: str
    slack: FakeSlack
    gate: FakeGate
    services: Services
    sign: Callable[[bytes], dict[str, str]] = signed
    run_due: Callable[[], Any] | None = None
    acks: list[dict[str, Any]] = field(default_factory=list)

    def echo(self, event: dict[str, Any]) -> None:
        response = requests.post(f"{self.url}/echo/events/", json=event, timeout=10,
                                 headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
        assert response.status_code == 202, response.text
        self.drain()

    def slash(self, text: str, *, user: str = ALICE) -> None:
        body = form_body(command_fields(self.slack, text, user=user))
        self._post("/slack/commands", body)

    def interact(self, payload: dict[str, Any], *, drain: bool = True) -> None:
        self._post("/slack/interactions", form(payload), drain=drain)

    def drain(self) -> None:
        if self.run_due is not None:
            self.run_due()
        else:
            run_jobs(self.services)

    def _post(self, path: str, body: bytes, *, drain: bool = True) -> None:
        response = requests.post(self.url + path, data=body, headers=self.sign(body), timeout=10)
        assert response.status_code == 200, response.text
        if response.content:
            self.acks.append(response.json())
        if drain:
            self.drain()

    def texts(self) -> list[str]:
        """Every mrkdwn text and top-level text Slack received from the relay, calls and acks alike."""
        bodies = [_body(call.params) for call in self.slack.calls if call.method in SENDING] + self.acks
        return [text for body in bodies for text in _mrkdwn(body)]


def _body(params: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        decoded[key] = value
    return decoded


def _mrkdwn(body: Any) -> Iterator[str]:
    """Strings Slack parses for mentions: every `text` but plain_text objects', and attachment text."""
    if isinstance(body, list):
        for item in body:
            yield from _mrkdwn(item)
    elif isinstance(body, dict):
        for key, value in body.items():
            if key in ("text", "pretext", "footer", "fallback") and isinstance(value, str):
                if body.get("type") != "plain_text":
                    yield value
            else:
                yield from _mrkdwn(value)


def hostile(value: Any) -> str:
    return f"{value} {HOSTILE}"


def hostile_execution(**overrides: Any) -> dict[str, Any]:
    """A running pipeline whose every shown field carries the tokens: names, trigger, judgment options,
    button labels, instructions; its custom texts carry broadcasts."""
    run = events.execution(**overrides)
    run["name"] = hostile(run["name"])
    run["trigger"]["user"] = hostile(run["trigger"]["user"])
    run["trigger"]["parameters"] = {hostile("p"): hostile("v")}
    for stage in run["stages"]:
        stage["name"] = hostile(stage["name"])
    judgment = next(s for s in run["stages"] if s["id"] == events.JUDGMENT_STAGE_ID)
    judgment["context"].update(
        judgmentInputs=[{"value": hostile("Deploy")}, {"value": hostile("Roll back")}],
        instructions=hostile("<b>Check</b> <a href='https://deck.example.com/x'>the dashboard</a>"),
        continueButtonLabel=hostile("Go"), stopButtonLabel=hostile("Halt"))
    for preference in run["notifications"] + judgment["context"].get("notifications", []):
        preference["message"] = {when: {"text": BROADCASTS} for when in preference.get("when", [])}
    return run


def echo_pipeline(relay: LiveRelay) -> None:
    run = hostile_execution()
    run["application"] = hostile("compute")
    for status in ("starting", "complete", "failed"):
        relay.echo(events.pipeline_event(status, copy.deepcopy({**run, "status": status.upper()})))


def echo_stage(relay: LiveRelay) -> None:
    run = hostile_execution()
    run["notifications"] = [{"type": "slack", "address": "#deploys", "level": "stage",
                             "when": ["stage.starting", "stage.complete", "stage.failed"],
                             "message": {"stage.failed": {"text": BROADCASTS}},
                             "customMessage": BROADCASTS}]
    stage = run["stages"][0]
    error = {"details": {"error": hostile("boom"), "errors": [hostile("bad")]}}
    stage["context"].update(customMessage=f"{BROADCASTS} {{{{link}}}}", exception=error,
                            sendNotifications=True, notifications=run["notifications"])
    for status in ("starting", "complete", "failed"):
        relay.echo(events.stage_event(status, run, stage_id=stage["id"]))


def judgment_message(relay: LiveRelay) -> tuple[dict[str, Any], Any]:
    run = hostile_execution()
    relay.gate.add_execution(run)
    relay.echo(events.stage_event("starting", run, stage_id=events.JUDGMENT_STAGE_ID))
    ref = relay.services.store.message(f"{run['id']}/{events.JUDGMENT_STAGE_ID}@{JUDGMENT_CHANNEL}")
    return run, relay.slack.message(ref.channel, ref.ts)


def echo_judgment(relay: LiveRelay) -> None:
    run, message = judgment_message(relay)
    click(relay, message, "judgment.choose.0", APPROVER)


def judgment_not_applied(relay: LiveRelay) -> None:
    """The stage times out between the click's ack and its job."""
    run, message = judgment_message(relay)
    click(relay, message, "judgment.choose.0", APPROVER, drain=False)
    relay.gate.time_out(run["id"], events.JUDGMENT_STAGE_ID)
    relay.drain()


def judgment_rejected(relay: LiveRelay) -> None:
    run, message = judgment_message(relay)
    click(relay, message, "judgment.reject", APPROVER)
    relay.interact(view_submission(relay.slack.views()[-1], user=APPROVER, values={"reason_text": HOSTILE}))


def click(relay: LiveRelay, message: Any, action_id: str, user: str, *, drain: bool = True) -> None:
    relay.interact(block_actions(message, action_id, user=user, trigger_id=relay.slack.issue_trigger(),
                                 response_url=relay.slack.new_response_url(channel=message.channel,
                                                                           ts=message.ts, user=user)),
                   drain=drain)


def status_and_pending(relay: LiveRelay) -> None:
    relay.gate.add_execution(hostile_execution())
    relay.slash("status compute")
    relay.slash(f"status compute {HOSTILE}")
    relay.slash("pending compute")
    relay.slash(f"status {HOSTILE}")
    relay.slash(f"pending {HOSTILE}")
    relay.slash(HOSTILE)


def run_pipeline(relay: LiveRelay) -> None:
    name = hostile("deploy")
    relay.gate.add_pipeline_config({
        "application": "compute", "name": name, "id": "cfg-1", "notifications": [],
        "parameterConfig": [{"name": hostile("region"), "label": hostile("Region"),
                             "description": hostile("where"), "default": hostile("eu"), "required": True},
                            {"name": "size", "label": hostile("Size"), "hasOptions": True,
                             "options": [{"value": hostile("small")}, {"value": "large"}]}]})
    relay.slash(f"run compute {name}")
    relay.interact(view_submission(relay.slack.views()[-1], user=ALICE, values={"value": hostile("eu")}))
    relay.slash(f"run compute {hostile('missing')}")


def cancel_run(relay: LiveRelay) -> None:
    run = hostile_execution()
    relay.gate.add_execution(run)
    relay.slash(f"cancel {run['id']} {HOSTILE}")
    confirmation = relay.slack.webhook_posts[-1][1]
    button = next(e for b in confirmation["blocks"] if b["type"] == "actions" for e in b["elements"])
    response_url = relay.slack.new_response_url(channel="#deploys", user=ALICE)
    relay.interact({"type": "block_actions", "user": {"id": ALICE}, "trigger_id": relay.slack.issue_trigger(),
                    "response_url": response_url, "container": {"type": "message", "is_ephemeral": True},
                    "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"],
                                 "block_id": "b1", "action_ts": "1700000000.000100"}]})
    relay.slash(f"cancel {hostile('not-an-id')}")
    relay.slash(f"pause <{DECK}/#/applications/compute/executions/details/{run['id']}|{HOSTILE}>")


SCENARIOS: dict[str, Callable[[LiveRelay], None]] = {
    "echo-pipeline": echo_pipeline, "echo-stage": echo_stage, "judgment-approved": echo_judgment,
    "judgment-not-applied": judgment_not_applied, "judgment-rejected": judgment_rejected,
    "status-and-pending": status_and_pending, "run": run_pipeline, "cancel": cancel_run,
}


@contextmanager
def chatops_relay(tmp_path: Path) -> Iterator[LiveRelay]:
    """Commands, modals and notifications: the relay on the shared Slack and Gate doubles."""
    everyone = ApproverPolicy(users=frozenset({ALICE, BOB}))
    rules = RelayRules(approvers={"*": everyone}, runners={"*": everyone}, cancelers={"*": everyone})
    with FakeSlack() as slack, FakeGate() as gate:
        services = relay_services(slack, tmp_path, gate_url=gate.url, rules=rules, echo_token=ECHO_TOKEN)
        with serving(create_app(services=services)) as url:
            yield LiveRelay(url=url, slack=slack, gate=gate, services=services)
        services.store.engine.dispose()
        assert slack.errors == [] and gate.errors == []


@contextmanager
def judgment_relay(tmp_path: Path) -> Iterator[LiveRelay]:
    """Manual Judgments: the relay and doubles on a hand clock, as the judgment tests drive them."""
    with (judgment_world(tmp_path, echo_token=ECHO_TOKEN, spinnaker_ui_url=DECK) as world,
          serving(world.app) as url):
        yield LiveRelay(url=url, slack=world.slack, gate=world.gate, services=world.services,
                        sign=world.signed, run_due=world.drain)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_slack_texts_carry_no_injected_control_sequence(tmp_path: Path, scenario: str) -> None:
    relay = judgment_relay if scenario.startswith("judgment") else chatops_relay
    with relay(tmp_path) as live:
        SCENARIOS[scenario](live)
        check(live, scenario)


def check(live: LiveRelay, scenario: str) -> None:
    texts = live.texts()
    assert texts, "nothing reached Slack"
    leaks = [(token, text) for text in texts for token in (*TOKENS, "<!everyone>") if token in text]
    assert leaks == []
    assert any(f"<{DECK}/" in text for text in texts) or scenario == "status-and-pending", \
        "the relay's own links to Deck must still work"
