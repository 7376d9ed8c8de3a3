"""The relay's YAML configuration file: routing rules and per-application policies."""

from __future__ import annotations

from marshmallow import Schema, fields, post_load, validate

from relay.models import ApproverPolicy, RelayRules, Route

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

    @post_load
    def _to_rules(self, data: dict, **_) -> RelayRules:
        return RelayRules(routes=tuple(data["routes"]), approvers=dict(data["approvers"]),
                          runners=dict(data["runners"]), cancelers=dict(data["cancelers"]),
                          channels={glob: tuple(channels) for glob, channels in data["channels"].items()})


RELAY_CONFIG_SCHEMA = RelayConfigSchema()


def first_error(messages: dict | list | str, path: str = "") -> str:
    """The first validation message as `key.path: message`, for a one-line startup failure."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return f"{path}: {messages}" if path else str(messages)
