"""Block Kit for every notification kind: MessageFacts in, a chat.postMessage body out, within Slack's
limits."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump

from schemas.mrkdwn import truncate

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS = 25
MAX_CONTEXT_TEXT = 2000
MAX_FALLBACK_TEXT = 3000


class MessageSchema(Schema):
    """Dumps MessageFacts to `{"text", "blocks"}`; values are truncated, never rejected."""

    fallback = fields.String()
    headline = fields.String(allow_none=True)
    summary = fields.String()
    facts = fields.List(fields.Tuple((fields.String(), fields.String())))
    deployed = fields.List(fields.String())
    detail = fields.String(allow_none=True)
    custom = fields.String(allow_none=True)
    link = fields.String(allow_none=True)
    link_label = fields.String()
    footer = fields.String(allow_none=True)
    actions = fields.List(fields.Dict())

    @post_dump
    def _assemble(self, data: dict, **_) -> dict:
        blocks: list[dict] = []
        if data.get("headline"):
            blocks.append({"type": "header", "text": _plain(data["headline"], MAX_HEADER_TEXT)})
        blocks.append(_section(data["summary"]))
        if data.get("facts"):
            blocks.append({"type": "section", "fields": [
                _mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT)
                for label, value in data["facts"][:MAX_FIELDS]]})
        if data.get("deployed"):
            blocks.append(_section("\n".join(data["deployed"])))
        for key in ("detail", "custom"):
            if data.get(key):
                blocks.append(_section(data[key]))
        buttons = list(data.get("actions") or [])
        if data.get("link"):
            buttons.append({"type": "button", "action_id": "open_in_spinnaker",
                            "text": _plain(data["link_label"], 75), "url": data["link"][:3000]})
        if buttons:
            blocks.append({"type": "actions", "elements": buttons[:MAX_ACTIONS]})
        if data.get("footer"):
            blocks.append({"type": "context", "elements": [_mrkdwn(data["footer"], MAX_CONTEXT_TEXT)]})
        return {"text": truncate(data["fallback"], MAX_FALLBACK_TEXT), "blocks": blocks[:MAX_BLOCKS]}


def _plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _section(text: str) -> dict:
    return {"type": "section", "text": _mrkdwn(text, MAX_SECTION_TEXT)}


MESSAGE_SCHEMA = MessageSchema()
