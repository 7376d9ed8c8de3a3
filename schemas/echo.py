"""Echo's REST event envelope in its three body shapes (plain, flatten, wrap), loaded into an EchoEvent."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates

from relay.models import EchoEvent
from schemas.strict_json import strict_loads

# Identifiers become keys in the store: execution and stage ids are ULIDs or UUIDs, far below these sizes.
MAX_EVENT_ID = 255
MAX_APPLICATION = 255
MAX_EXECUTION_ID = 120
# How deep an Echo `template` may nest the event; templates wrap it in a field or two.
MAX_TEMPLATE_DEPTH = 3


def _printable(limit: int) -> validate.Validator:
    """At most `limit` characters and no control characters (NUL cannot be stored, nor shown in Slack)."""
    return validate.And(validate.Length(max=limit),
                        validate.Regexp(r"[^\x00-\x1f\x7f]*\Z", error="must not contain control characters"))


TYPE_RULE = validate.And(validate.Length(min=1), _printable(200))
APPLICATION_RULE = _printable(MAX_APPLICATION)
EVENT_ID_RULE = validate.And(validate.Length(min=1), _printable(MAX_EVENT_ID))
# The same three rules as single patterns, for the hot path (see `load_event`).
PLAIN_TYPE = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")
PLAIN_APPLICATION = re.compile(rf"[^\x00-\x1f\x7f]{{0,{MAX_APPLICATION}}}\Z")
PLAIN_EVENT_ID = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_EVENT_ID}}}\Z")


class DetailsSchema(Schema):
    """Echo's event metadata; only the fields the relay reads are declared."""

    class Meta:
        unknown = EXCLUDE

    source = fields.String(load_default=None, allow_none=True)
    type = fields.String(required=True, validate=TYPE_RULE)
    application = fields.String(load_default=None, allow_none=True, validate=APPLICATION_RULE)


class EventSchema(Schema):
    """An Echo event. `@pre_load` undoes `wrap` and `flatten` so every shape loads the same way."""

    class Meta:
        unknown = EXCLUDE

    details = fields.Nested(DetailsSchema, required=True)
    # JSON object keys are always strings: validating each key again would only cost time on every event.
    content = fields.Dict(load_default=dict)
    event_id = fields.String(data_key="eventId", load_default=None, allow_none=True, validate=EVENT_ID_RULE)

    @pre_load
    def _normalize(self, data: Any, **_) -> dict:
        if not isinstance(data, dict):
            raise ValidationError("an Echo event must be a JSON object", field_name="_schema")
        data = _unwrap(data)
        return {key: _unflatten(key, value) if key in ("details", "content") else value
                for key, value in data.items()}

    @validates("content")
    def _identifiers(self, content: dict, **_) -> None:
        """The execution and stage ids the relay keys messages by must be short strings when present."""
        errors = _identifier_errors(content)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _to_event(self, data: dict, **_) -> EchoEvent:
        details = data["details"]
        return EchoEvent(event_id=data["event_id"], source=details["source"], type=details["type"],
                         application=details["application"], content=data["content"])


def load_event(document: Any) -> EchoEvent:
    """The event in a parsed body. Echo's plain shape with valid values is taken as it is (most events, so
    this is the webhook's hot path); any other shape, or a value breaking a rule, goes through EVENT_SCHEMA,
    which unwraps and unflattens it or raises the ValidationError naming the fields."""
    return _plain_event(document) or EVENT_SCHEMA.load(document)


def _plain_event(document: Any) -> EchoEvent | None:
    """The event when `document` is a plain envelope whose values all pass the schema's rules, else None."""
    if not isinstance(document, dict):
        return None
    details, content = document.get("details"), document.get("content", {})
    if not (isinstance(details, dict) and isinstance(content, dict)):
        return None
    source, type_, application = details.get("source"), details.get("type"), details.get("application")
    event_id = document.get("eventId")
    if not (isinstance(type_, str) and PLAIN_TYPE.match(type_) and _text_or_none(source)):
        return None
    if not (application is None or (isinstance(application, str) and PLAIN_APPLICATION.match(application))):
        return None
    if not (event_id is None or (isinstance(event_id, str) and PLAIN_EVENT_ID.match(event_id))):
        return None
    if _identifier_errors(content):
        return None
    return EchoEvent(event_id=event_id, source=source, type=type_, application=application, content=content)


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _identifier_errors(content: dict) -> dict[str, list[str]]:
    """The execution and stage ids in `content` that are not short printable strings, with the error."""
    execution = content.get("execution") if isinstance(content.get("execution"), dict) else {}
    checks = {"executionId": content.get("executionId"), "stageId": content.get("stageId"),
              "execution.id": execution.get("id")}
    return {name: [f"must be a string of at most {MAX_EXECUTION_ID} printable characters"]
            for name, value in checks.items() if value is not None and not _identifier(value)}


def _unwrap(data: dict) -> dict:
    """`wrap: true` sends {eventName, <fieldName>: event}, and a `template` embeds the event anywhere in the
    template's JSON (`{"myField": {{event}} }`): take the shallowest object holding `details`."""
    if "details" in data:
        return data
    level = [value for value in data.values() if isinstance(value, dict)]
    for _ in range(MAX_TEMPLATE_DEPTH):
        found = next((value for value in level if "details" in value), None)
        if found is not None:
            return found
        level = [value for parent in level for value in parent.values() if isinstance(value, dict)]
    if "eventName" in data:
        raise ValidationError("a wrapped event must hold the event object beside eventName",
                              field_name="_schema")
    return data


def _unflatten(key: str, value: Any) -> Any:
    """`flatten: true` sends details and content as JSON strings."""
    if not isinstance(value, str):
        return value
    try:
        return strict_loads(value)
    except ValueError:
        raise ValidationError("a flattened field must hold a JSON object", field_name=key) from None


def _identifier(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_EXECUTION_ID and value.isprintable()


EVENT_SCHEMA = EventSchema()
