"""`slackops-relay demo`: the whole loop with no Slack and no Spinnaker. Echo's events for a sample run go to
the relay in dry-run, its messages are shown as Slack would show them, a signed click on the judgment goes
through /slack/interactions, and a stand-in for Gate lets the run finish."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

from relay.app import create_app
from relay.config import Settings
from relay.demo.gate import CHANNEL, JUDGMENT_STAGE_ID, DemoGate, echo_event
from relay.demo.terminal import message_lines
from relay.judgments.blocks import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, decode_ref, reason_modal
from relay.judgments.updates import AWAITING_TEMPLATE
from relay.models import ApproverPolicy, ClickOrigin, ReasonRequest, RelayRules
from relay.services import Services
from relay.serving import QuietHandler
from relay.store import IN_FLIGHT, RECEIVED, Delivery, migrate
from relay.wiring import build_services

USER_ID = "U0DEMOUSER"
USER = {"id": USER_ID, "username": "you", "team_id": "T0DEMO"}
DEMO_REASON = "Not today: the canary needs another look"
CHANNEL_ID = "C0DEPLOYS1"
DEADLINE_SECONDS = 30.0
CHOICES = {"approve": APPROVE, "reject": REJECT}


class DemoFailed(Exception):
    """The loop did not complete; the message says at which step."""


@dataclass
class Shown:
    """The messages the relay sent (in dry-run: would have sent), by the key later updates use."""

    out: Callable[[str], None]
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    awaiting: Delivery | None = None

    def show(self, delivery: Delivery, _result: str) -> None:
        key = delivery.message_key or (delivery.thread_key if delivery.action == "upsert" else None)
        if delivery.action == "upsert" and key in self.messages:
            which = "judgment" if delivery.template.startswith("judgment.") else "run's"
            title = f"{delivery.channel} · the {which} message, updated in place"
        elif delivery.action == "reply":
            shown = ", also sent to the channel" if delivery.payload.get("reply_broadcast") else ""
            title = f"{delivery.channel} › reply in the run's thread{shown}"
        else:
            title = f"{delivery.channel} · new message"
        if key:
            self.messages[key] = delivery.payload
        if delivery.template == AWAITING_TEMPLATE:
            self.awaiting = delivery
        self.out("")
        for line in message_lines(delivery.payload, title=title):
            self.out(line)


def run_demo(*, choose: Callable[[], str], out: Callable[[str], None], workdir: Path) -> str:
    """Run the loop in `workdir` (its SQLite database); `choose` answers "approve" or "reject". Returns the
    stage's final status."""
    secret = secrets.token_hex(16)
    with _quiet_logs(), DemoGate() as gate:
        settings = Settings(database_url=f"sqlite:///{workdir / 'demo.sqlite3'}", slack_signing_secret=secret,
                            gate_url=gate.url, channel_interval=0,
                            rules=RelayRules(approvers={"*": ApproverPolicy(anyone=True)}))
        shown = Shown(out)
        services = build_services(settings)
        migrate.upgrade(services.store)
        dispatcher = services.dispatcher(on_result=shown.show)
        server = make_server("127.0.0.1", 0, create_app(services=services, announce=False), threaded=True,
                             request_handler=QuietHandler)
        threading.Thread(target=server.serve_forever, name="demo-relay", daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            out(f"The relay listens on {base} in dry-run (no SLACK_BOT_TOKEN); a stand-in for Gate on "
                f"{gate.url} holds the run {gate.execution['name']!r} of {gate.execution['application']!r}.")
            out("Echo posts the run's events: the pipeline started, and its Manual Judgment is waiting.")
            execution = gate.snapshot()
            _post(base, echo_event("pipeline", "starting", execution))
            _post(base, echo_event("stage", "starting", execution, JUDGMENT_STAGE_ID))
            _drain(dispatcher, lambda: shown.awaiting is not None, "the judgment message")
            choice = choose()
            out(f"\nYou click {choice.capitalize()}: a signed click goes to {base}/slack/interactions.")
            _click(base, secret, shown.awaiting, CHOICES[choice])
            _drain(dispatcher, lambda: _judgment_done(services), "the judgment to reach Gate")
            execution = gate.snapshot()
            stage = next(s for s in execution["stages"] if s["id"] == JUDGMENT_STAGE_ID)
            out(f"\nGate took the judgment; the stage is {stage['status']}. Echo posts the stage's and the "
                "run's end.")
            outcome = "complete" if stage["status"] == "SUCCEEDED" else "failed"
            _post(base, echo_event("stage", outcome, execution, JUDGMENT_STAGE_ID))
            _post(base, echo_event("pipeline", outcome, execution))
            _drain(dispatcher, lambda: True, "the last messages")
            out(f"\nDone: the run ended {execution['status']}. With SLACK_BOT_TOKEN set, these messages go "
                f"to {CHANNEL} in Slack.")
            return stage["status"]
        finally:
            server.shutdown()
            services.store.engine.dispose()


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The terminal shows the messages, not the relay's log lines (which would otherwise reach stderr)."""
    handler = logging.NullHandler()
    logger = logging.getLogger("relay")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _post(base: str, event: dict[str, Any]) -> None:
    answer = requests.post(f"{base}/echo/events", json=event, timeout=10)
    if answer.status_code != 202:
        raise DemoFailed(f"the relay answered {answer.status_code} to an event: {answer.text[:200]}")


def _click(base: str, secret: str, message: Delivery | None, action_id: str) -> None:
    """What Slack sends when a user clicks a button of `message`, signed with the signing secret; for
    Reject, then the reason form Slack shows, submitted."""
    if message is None:
        raise DemoFailed("no judgment message to click")
    block_id, element = next((block.get("block_id"), element) for block in message.payload["blocks"]
                             if block.get("type") == "actions" for element in block.get("elements", [])
                             if element.get("action_id") == action_id)
    ts = f"{time.time():.6f}"
    _signed_post(base, secret, {
        "type": "block_actions", "user": USER, "api_app_id": "A0DEMO", "team": {"id": "T0DEMO"},
        "channel": {"id": CHANNEL_ID},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL_ID, "is_ephemeral": False},
        "message": {"ts": ts, "text": message.payload.get("text"), "blocks": message.payload["blocks"]},
        "state": {"values": {}},
        "actions": [{"action_id": action_id, "block_id": block_id, "type": "button",
                     "value": element["value"], "text": element["text"], "action_ts": ts}]})
    if action_id == REJECT:
        form = reason_modal(ReasonRequest(ref=decode_ref(element["value"]),
                                          origin=ClickOrigin(channel_id=CHANNEL_ID, message_ts=ts)))
        _signed_post(base, secret, {
            "type": "view_submission", "user": USER, "api_app_id": "A0DEMO", "team": {"id": "T0DEMO"},
            "view": {"id": "V0DEMO", "type": "modal", "callback_id": form["callback_id"],
                     "private_metadata": form["private_metadata"],
                     "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input",
                                                                        "value": DEMO_REASON}}}}}})


def _signed_post(base: str, secret: str, payload: dict[str, Any]) -> None:
    """POST an interaction payload to the relay as Slack does: form-encoded and signed."""
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=raw)}
    answer = requests.post(f"{base}/slack/interactions", data=raw, headers=headers, timeout=10)
    if answer.status_code != 200:
        raise DemoFailed(f"the relay answered {answer.status_code} to the {payload['type']}: "
                         f"{answer.text[:200]}")


def _judgment_done(services: Services) -> bool:
    judgments = services.store.list_judgments(limit=1)
    return bool(judgments) and judgments[0].status not in (RECEIVED, *IN_FLIGHT)


def _drain(dispatcher: Any, done: Callable[[], bool], what: str) -> None:
    """Run the dispatcher until nothing is due and `done()` holds."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        worked = dispatcher.run_once()
        if not worked and done():
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"gave up waiting for {what} after {DEADLINE_SECONDS:.0f} s")
        if not worked:
            time.sleep(0.05)
