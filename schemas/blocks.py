"""Block Kit, the one way the relay builds it: small builders of Slack's JSON, each cutting its text to
Slack's limits so a long value is shortened, never refused. Every message, ephemeral and modal is made of
these; text handed to them is already mrkdwn-safe (see schemas/mrkdwn.py)."""

from __future__ import annotations

from typing import Any

from schemas.mrkdwn import truncate

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS = 25
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_URL = 3000
MAX_LABEL = 2000
MAX_TITLE = 24

Block = dict[str, Any]


def plain(text: str, limit: int = 150) -> Block:
    """A plain_text object (Slack shows it as written; emoji codes become emoji)."""
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> Block:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def facts(pairs: list[tuple[str, str]]) -> Block:
    """A section of labelled facts, two columns wide: `*label*` over its value."""
    return {"type": "section",
            "fields": [mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT) for label, value in pairs[:MAX_FIELDS]]}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text, MAX_CONTEXT_TEXT)]}


def actions(elements: list[Block]) -> Block:
    return {"type": "actions", "elements": elements[:MAX_ACTIONS]}


def button(label: str, *, action_id: str, value: str | None = None, url: str | None = None,
           style: str | None = None, confirm: Block | None = None) -> Block:
    """A button; `style` is "primary" or "danger", `confirm` a dialog Slack shows before the click."""
    element: Block = {"type": "button", "action_id": action_id, "text": plain(label, MAX_BUTTON_TEXT)}
    optional = {"value": value, "url": url[:MAX_URL] if url else None, "confirm": confirm, "style": style}
    element.update({key: item for key, item in optional.items() if item is not None})
    return element


def confirmation(label: str, question: str) -> Block:
    """The dialog Slack shows before sending a click: `<label>?`, the question, `<label>` or Cancel."""
    return {"title": plain(f"{label}?", 100), "text": mrkdwn(question, 300),
            "confirm": plain(label, 30), "deny": plain("Cancel", 30)}


def option(label: str, value: str) -> Block:
    return {"text": plain(label, MAX_OPTION_TEXT), "value": value}


def static_select(*, action_id: str, options: list[Block], placeholder: str | None = None,
                  initial: Block | None = None) -> Block:
    element: Block = {"type": "static_select", "action_id": action_id, "options": options}
    if placeholder:
        element["placeholder"] = plain(placeholder)
    if initial is not None:
        element["initial_option"] = initial
    return element


def text_input(*, action_id: str, multiline: bool = False, max_length: int | None = None,
               placeholder: str | None = None, initial: str | None = None) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": action_id}
    optional = {"multiline": multiline or None, "max_length": max_length,
                "placeholder": plain(placeholder) if placeholder else None, "initial_value": initial}
    element.update({key: item for key, item in optional.items() if item is not None})
    return element


def input_block(label: str, element: Block, *, block_id: str, optional: bool = False,
                hint: str | None = None) -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label, MAX_LABEL),
                    "element": element, "optional": optional}
    if hint:
        block["hint"] = plain(hint, MAX_LABEL)
    return block


def modal(title: str, blocks: list[Block], *, callback_id: str, submit: str | None = None,
          close: str = "Cancel", private_metadata: str | None = None) -> Block:
    view: Block = {"type": "modal", "callback_id": callback_id, "title": plain(title, MAX_TITLE),
                   "close": plain(close, MAX_TITLE), "blocks": blocks[:MAX_BLOCKS]}
    if submit:
        view["submit"] = plain(submit, MAX_TITLE)
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    return view
