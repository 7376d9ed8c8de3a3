"""Slack's slash-command payload: form fields over HTTP, the same fields as JSON in Socket Mode."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from relay.models import SlashCommand

HTTP_URL = validate.Regexp(r"^https?://[^\s]+$", error="must be an http(s) URL")


class SlashCommandSchema(Schema):
    """The fields the relay uses; Slack's others (team, enterprise, token…) are ignored."""

    class Meta:
        unknown = EXCLUDE

    command = fields.String(required=True, validate=validate.Length(min=1, max=64))
    text = fields.String(load_default="", validate=validate.Length(max=4000))
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel_name = fields.String(load_default=None)
    response_url = fields.String(load_default=None, validate=HTTP_URL)
    trigger_id = fields.String(load_default=None)

    @post_load
    def _to_command(self, data: dict, **_) -> SlashCommand:
        return SlashCommand(**data)


SLASH_COMMAND_SCHEMA = SlashCommandSchema()
