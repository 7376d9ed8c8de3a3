"""The relay's YAML configuration file: routing rules and per-application policies."""

from __future__ import annotations

import difflib
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from relay.models import ApproverPolicy, RelayRules, ReminderPolicy, Route

DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")
SLACK_TARGET = re.compile(r"^[SUW][A-Z0-9]{2,}$")

WHEN_VALUES = (
    "pipeline.starting", "pipeline.complete", "pipeline.failed",
    "orchestration.starting", "orchestration.complete", "orchestration.failed",
    "stage.starting", "stage.complete", "stage.failed", "stage.skipped",
    "manualJudgment", "manualJudgmentContinue", "manualJudgmentStop",
)


class RouteSchema(Schema):
    """A rule that notifies a channel without editing pipelines: globs on application and pipeline name."""

    application = fields.String(load_default="*")
    pipeline = fields.String(load_default="*")
    when = fields.List(fields.String(validate=validate.OneOf(WHEN_VALUES)), required=True,
                       validate=validate.Length(min=1))
    channel = fields.String(required=True, validate=validate.Length(min=1))

    @post_load
    def _to_route(self, data: dict, **_) -> Route:
        return Route(application=data["application"], pipeline=data["pipeline"],
                     when=tuple(data["when"]), channel=data["channel"])


class ApproverSchema(Schema):
    """Who may act on an application's pipelines from Slack."""

    users = fields.List(fields.String(), load_default=list)
    groups = fields.List(fields.String(), load_default=list)
    anyone = fields.Boolean(load_default=False)
    four_eyes = fields.Boolean(load_default=False)

    @post_load
    def _to_policy(self, data: dict, **_) -> ApproverPolicy:
        return ApproverPolicy(users=frozenset(data["users"]), groups=frozenset(data["groups"]),
                              anyone=data["anyone"], four_eyes=data["four_eyes"])


class Duration(fields.Field):
    """`30m`, `2h`, `1h30m`, `45s`, `30d` as seconds (more than zero)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        match = DURATION.match(value.strip()) if isinstance(value, str) else None
        parts = match.groups() if match else (None, None, None, None)
        seconds = sum(int(part or 0) * unit for part, unit in zip(parts, (86400, 3600, 60, 1), strict=True))
        if not seconds:
            raise self.make_error("invalid")
        return float(seconds)

    default_error_messages = {"invalid": "Not a duration like 30m, 2h, 1h30m, 45s or 30d."}


class ReminderSchema(Schema):
    """Reminders and escalation of an application's waiting judgments."""

    every = Duration(load_default=None)
    escalate_after = Duration(load_default=None)
    escalate_to = fields.List(fields.String(validate=validate.Regexp(
        SLACK_TARGET, error="Not a Slack user group ID (S...) or user ID (U... or W...).")),
        load_default=list)

    @post_load
    def _to_policy(self, data: dict, **_) -> ReminderPolicy:
        if data["escalate_to"] and data["escalate_after"] is None:
            raise ValidationError("escalate_to needs escalate_after.", "escalate_after")
        return ReminderPolicy(every=data["every"], escalate_after=data["escalate_after"],
                              escalate_to=tuple(data["escalate_to"]))


class RelayConfigSchema(Schema):
    """The whole file. Unknown keys are errors, so a typo never silently disables a rule."""

    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    approvers = fields.Dict(keys=fields.String(), values=fields.Nested(ApproverSchema), load_default=dict)
    runners = fields.Dict(keys=fields.String(), values=fields.Nested(ApproverSchema), load_default=dict)
    cancelers = fields.Dict(keys=fields.String(), values=fields.Nested(ApproverSchema), load_default=dict)
    # Which channels each application's events may notify: globs over channel names (`#deploys-*`) and IDs.
    channels = fields.Dict(keys=fields.String(validate=validate.Length(min=1)),
                           values=fields.List(fields.String(validate=validate.Length(min=1)),
                                              validate=validate.Length(min=1)),
                           load_default=dict)
    reminders = fields.Dict(keys=fields.String(validate=validate.Length(min=1)),
                            values=fields.Nested(ReminderSchema), load_default=dict)

    @post_load
    def _to_rules(self, data: dict, **_) -> RelayRules:
        return RelayRules(routes=tuple(data["routes"]), approvers=dict(data["approvers"]),
                          runners=dict(data["runners"]), cancelers=dict(data["cancelers"]),
                          channels={glob: tuple(channels) for glob, channels in data["channels"].items()},
                          reminders=dict(data["reminders"]))


RELAY_CONFIG_SCHEMA = RelayConfigSchema()


def first_error(messages: dict | list | str, path: str = "") -> str:
    """The first validation message as `key.path: message`, for a one-line startup failure."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return f"{path}: {messages}" if path else str(messages)


UNKNOWN_FIELD = "Unknown field."


def config_error(messages: dict, schema: Schema = RELAY_CONFIG_SCHEMA) -> str:
    """The file's first problem as one line. An unknown key comes first, with the known key nearest to it,
    since it is usually a typo that also caused the other errors (a `chanel:` leaves `channel` missing)."""
    problems = list(_problems(messages, schema, ""))
    for path, message, known in problems:
        if message == UNKNOWN_FIELD:
            where, _, key = path.rpartition(".")
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (known keys: {', '.join(known)})"
            return f"{where + ': ' if where else ''}unknown key {key}{hint}"
    path, message, _ = problems[0]
    return f"{path}: {message}" if path else message


def _problems(messages: Any, node: Any, path: str):
    """(key.path, message, sibling keys) for every message, walking the schema beside the error tree;
    a Dict's `value` level is left out of the path (`approvers.payments.users`)."""
    if isinstance(messages, list):
        for message in messages:
            yield from _problems(message, node, path)
        return
    if not isinstance(messages, dict):
        known = sorted(node.fields) if isinstance(node, Schema) else []
        yield path, str(messages), known
        return
    for key, value in messages.items():
        child = _child(node, key)
        if isinstance(node, fields.Dict) and isinstance(value, dict) and "value" in value:
            value = value["value"]
        where = f"{path}.{key}" if path else str(key)
        if isinstance(node, Schema) and key not in node.fields:
            yield where, UNKNOWN_FIELD, sorted(node.fields)
        else:
            yield from _problems(value, child, where)


def _child(node: Any, key: Any) -> Any:
    """The schema or field that validated `key` under `node`."""
    if isinstance(node, Schema):
        return _unwrap(node.fields.get(key))
    if isinstance(node, fields.List):
        return _unwrap(node.inner)
    if isinstance(node, fields.Dict):
        return _unwrap(node.value_field)
    return None


def _unwrap(field: Any) -> Any:
    return field.schema if isinstance(field, fields.Nested) else field
