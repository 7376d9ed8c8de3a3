"""Slack interaction requests for tests: the real payloads in tests/payloads/slack, pointed at a message or a
modal the relay made, form-encoded and signed the way Slack signs them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.events import payload
from tests.fakes import Message

# The signing secret from Slack's documentation example (python-slack-sdk's verifier test uses it too).
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def form(body: dict[str, Any]) -> bytes:
    """An interaction as Slack posts it: `payload=<url-encoded JSON>`."""
    return urlencode({"payload": json.dumps(body)}).encode()


def signed(raw: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | str | None = None) -> dict[str, str]:
    """Headers of a request Slack signed with `secret` at `timestamp` (now by default)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=raw)
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature}


def block_actions(message: Message, action_id: str, *, user: str, trigger_id: str, response_url: str,
                  selected: str | None = None) -> dict[str, Any]:
    """What Slack sends when `user` clicks the element `action_id` of `message`, built on bolt-python's
    recorded payload. `selected` is the value picked in the message's select menu beforehand, if any."""
    body = payload("slack/bolt-python_block_actions_section_button_with_message.json")
    block_id, element = _element(message, action_id)
    container = {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                 "is_ephemeral": False}
    if message.thread_ts:
        container["thread_ts"] = message.thread_ts
    body.update(
        user={"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0RELAY00"},
        container=container, channel={"id": message.channel}, trigger_id=trigger_id,
        response_url=response_url,
        message={**body["message"], "ts": message.ts, "text": message.text, "blocks": message.blocks,
                 "user": "U0RELAYBOT"},
        state={"values": _selection(message, selected)})
    action = {"action_id": action_id, "block_id": block_id, "type": element["type"],
              "action_ts": f"{time.time():.6f}"}
    action.update({key: value for key, value in element.items() if key in ECHOED})
    if element["type"] == "static_select":
        action["selected_option"] = next(o for o in element["options"] if o["value"] == selected)
    body["actions"] = [action]
    return body


def view_submission(view: dict[str, Any], *, user: str, values: dict[str, str]) -> dict[str, Any]:
    """What Slack sends when `user` submits `view` (as views.open returned it) with text inputs filled in
    by action_id, built on bolt-python's recorded payload."""
    body = payload("slack/bolt-python_view_submission.json")
    state: dict[str, dict] = {}
    for block in view.get("blocks", []):
        action_id = (block.get("element") or {}).get("action_id")
        if block.get("type") == "input" and action_id in values:
            state[block["block_id"]] = {action_id: {"type": "plain_text_input", "value": values[action_id]}}
    body["user"] = {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0RELAY00"}
    kept = ("id", "callback_id", "private_metadata", "blocks", "title", "submit", "close", "hash")
    body["view"] = {**body["view"], **{key: view[key] for key in kept if key in view},
                    "state": {"values": state}}
    return body


ECHOED = ("text", "value", "style", "confirm")  # what Slack copies from a clicked element into its action


def app_home_opened(user: str, *, event_id: str, tab: str = "home") -> dict[str, Any]:
    """The Events API body Slack sends when `user` opens the app's Home tab (or its Messages `tab`), built on
    Slack's documented example."""
    body = payload("slack/slack-docs_event_callback_app_home_opened.json")
    body["event"].update(user=user, tab=tab)
    body.update(event_id=event_id, team_id="T0RELAY00")
    return body


def home_block_actions(view: dict[str, Any], action_id: str, *, user: str, trigger_id: str,
                       execution_id: str) -> dict[str, Any]:
    """What Slack sends when `user` clicks the element `action_id` of the judgment of `execution_id` in
    their Home tab `view` (as views.publish left it), built on java-slack-sdk's recorded Home tab click: a
    `view` container, no channel, message or response_url."""
    body = payload("slack/java-slack-sdk_block_actions_home_button_with_confirm.json")
    for index, block in enumerate(view["blocks"]):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id and execution_id in element.get("value", ""):
                echoed = {key: value for key, value in element.items() if key in ECHOED}
                action = {"action_id": action_id, "block_id": block.get("block_id") or f"h{index}",
                          "type": element["type"], "action_ts": f"{time.time():.6f}", **echoed}
                body.update(
                    user={"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0RELAY00"},
                    container={"type": "view", "view_id": view["id"]}, trigger_id=trigger_id,
                    view={**body["view"], "id": view["id"], "blocks": view["blocks"], "hash": view["hash"],
                          "type": "home"},
                    actions=[action])
                return body
    raise AssertionError(f"no {action_id!r} for run {execution_id} in the Home tab")


def elements(message: Message) -> list[dict[str, Any]]:
    """The interactive elements of a message's actions blocks."""
    return [element for block in message.blocks if block.get("type") == "actions"
            for element in block["elements"]]


def _element(message: Message, action_id: str) -> tuple[str, dict[str, Any]]:
    for index, block in enumerate(message.blocks):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return block.get("block_id") or f"b{index}", element
    present = [e.get("action_id") for e in elements(message)]
    raise AssertionError(f"no element {action_id!r} in the message; it has {present}")


def _selection(message: Message, selected: str | None) -> dict[str, Any]:
    if selected is None:
        return {}
    for index, block in enumerate(message.blocks):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element["type"] == "static_select":
                option = next(o for o in element["options"] if o["value"] == selected)
                return {block.get("block_id") or f"b{index}": {element["action_id"]: {
                    "type": "static_select", "selected_option": option}}}
    raise AssertionError("the message has no select menu")
