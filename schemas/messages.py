"""Block Kit for every notification kind: MessageFacts in, a chat.postMessage body out, within Slack's
limits."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump

from schemas.blocks import MAX_BLOCKS, actions, button, context, facts, header, section
from schemas.mrkdwn import truncate

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
            blocks.append(header(data["headline"]))
        blocks.append(section(data["summary"]))
        if data.get("facts"):
            blocks.append(facts(data["facts"]))
        if data.get("deployed"):
            blocks.append(section("\n".join(data["deployed"])))
        blocks += [section(data[key]) for key in ("detail", "custom") if data.get(key)]
        buttons = list(data.get("actions") or [])
        if data.get("link"):
            buttons.append(button(data["link_label"], action_id="open_in_spinnaker", url=data["link"]))
        if buttons:
            blocks.append(actions(buttons))
        if data.get("footer"):
            blocks.append(context(data["footer"]))
        return {"text": truncate(data["fallback"], MAX_FALLBACK_TEXT), "blocks": blocks[:MAX_BLOCKS]}


MESSAGE_SCHEMA = MessageSchema()
