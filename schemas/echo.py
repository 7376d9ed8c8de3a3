"""Echo's REST event envelope in its three body shapes (plain, flatten, wrap), loaded into an EchoEvent."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from relay.models import EchoEvent


class DetailsSchema(Schema):
    """Echo's event metadata; only the fields the relay reads are declared."""

    class Meta:
        unknown = EXCLUDE

    source = fields.String(load_default=None, allow_none=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    application = fields.String(load_default=None, allow_none=True)


class EventSchema(Schema):
    """An Echo event. `@pre_load` undoes `wrap` and `flatten` so every shape loads the same way."""

    class Meta:
        unknown = EXCLUDE

    details = fields.Nested(DetailsSchema, required=True)
    # JSON object keys are always strings: validating each key again would only cost time on every event.
    content = fields.Dict(load_default=dict)
    event_id = fields.String(data_key="eventId", load_default=None, allow_none=True)

    @pre_load
    def _normalize(self, data: Any, **_) -> dict:
        if not isinstance(data, dict):
            raise ValidationError("an Echo event must be a JSON object", field_name="_schema")
        data = _unwrap(data)
        return {key: _unflatten(key, value) if key in ("details", "content") else value
                for key, value in data.items()}

    @post_load
    def _to_event(self, data: dict, **_) -> EchoEvent:
        details = data["details"]
        return EchoEvent(event_id=data["event_id"], source=details["source"], type=details["type"],
                         application=details["application"], content=data["content"])


def _unwrap(data: dict) -> dict:
    """`wrap: true` sends {eventName, <fieldName>: event}; find the event under whichever field holds it."""
    if "details" in data or "eventName" not in data:
        return data
    for key, value in data.items():
        if key != "eventName" and isinstance(value, dict) and "details" in value:
            return value
    raise ValidationError("a wrapped event must hold the event object beside eventName",
                          field_name="_schema")


def _unflatten(key: str, value: Any) -> Any:
    """`flatten: true` sends details and content as JSON strings."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ValidationError("a flattened field must hold a JSON object", field_name=key) from None


EVENT_SCHEMA = EventSchema()
