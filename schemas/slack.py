"""Slack interaction payloads (`block_actions`, `view_submission`) and the relay's own button values.

Slack's payloads are foreign input: unknown keys are dropped, the fields the relay acts on are required
and checked. Button values and modal metadata are written by the relay but come back through Slack, so
they are loaded with the same care.
"""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from relay.models import (
    BlockActions,
    ClickOrigin,
    JudgmentRef,
    ReasonRequest,
    SlackAction,
    ViewSubmission,
)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,40}$")
SLACK_USER_ID = validate.Regexp(USER_ID, error="not a Slack user ID")
# Orca ids are ULIDs or UUIDs; `/` and `@` would break the message map's keys.
SPINNAKER_ID = validate.Regexp(r"^[A-Za-z0-9._:-]{1,128}$", error="not a Spinnaker id")
MAX_CHOICES = 100


class _Foreign(Schema):
    class Meta:
        unknown = EXCLUDE


class _User(_Foreign):
    id = fields.String(required=True, validate=SLACK_USER_ID)


class _Container(_Foreign):
    channel_id = fields.String(load_default=None)
    message_ts = fields.String(load_default=None)
    thread_ts = fields.String(load_default=None)


class _Option(_Foreign):
    value = fields.String(required=True)


class _Action(_Foreign):
    action_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    block_id = fields.String(load_default=None)
    value = fields.String(load_default=None)
    selected_option = fields.Nested(_Option, load_default=None, allow_none=True)

    @post_load
    def _to_action(self, data: dict, **_) -> SlackAction:
        selected = data["selected_option"]["value"] if data["selected_option"] else None
        return SlackAction(action_id=data["action_id"], value=data["value"], selected=selected,
                           block_id=data["block_id"])


class _InputValue(_Foreign):
    value = fields.String(load_default=None, allow_none=True)
    selected_option = fields.Nested(_Option, load_default=None, allow_none=True)


class _State(_Foreign):
    values = fields.Dict(keys=fields.String(), load_default=dict,
                         values=fields.Dict(keys=fields.String(), values=fields.Nested(_InputValue)))


def _inputs(state: dict | None, block_id: str | None = None) -> dict[str, dict]:
    """`state.values` flattened to action_id -> input (block_ids change with every message version); only
    the block `block_id` when the state has it, so that a message holding several judgments (a
    `/spinnaker pending` answer) lends each Approve the choice picked beside it."""
    blocks = (state or {}).get("values", {})
    chosen = [blocks[block_id]] if block_id in blocks else blocks.values()
    return {action_id: value for block in chosen for action_id, value in block.items()}


def _input_value(value: dict) -> str | None:
    """A text input's value, or a select's chosen option."""
    return value["selected_option"]["value"] if value.get("selected_option") else value.get("value")


class _ViewState(_Foreign):
    state = fields.Nested(_State, load_default=None)


class BlockActionsSchema(_Foreign):
    """A click on a button or a select in a message, or in a view (the App Home): a view's inputs are in the
    view's own `state`, and it has no channel or message."""

    type = fields.String(required=True, validate=validate.Equal("block_actions"))
    user = fields.Nested(_User, required=True)
    trigger_id = fields.String(load_default=None)
    container = fields.Nested(_Container, load_default=dict)
    actions = fields.List(fields.Nested(_Action), required=True, validate=validate.Length(min=1))
    state = fields.Nested(_State, load_default=None)
    view = fields.Nested(_ViewState, load_default=None)

    @post_load
    def _to_block_actions(self, data: dict, **_) -> BlockActions:
        container = data["container"]
        origin = ClickOrigin(channel_id=container.get("channel_id"), message_ts=container.get("message_ts"),
                             thread_ts=container.get("thread_ts"))
        state = data["state"] or (data["view"] or {}).get("state")
        inputs = _inputs(state, data["actions"][0].block_id)
        selections = {action_id: _input_value(value) for action_id, value in inputs.items()
                      if value.get("selected_option")}
        return BlockActions(user_id=data["user"]["id"], actions=tuple(data["actions"]), origin=origin,
                            trigger_id=data["trigger_id"], selections=selections)


class _View(_Foreign):
    callback_id = fields.String(required=True)
    private_metadata = fields.String(load_default="")
    state = fields.Nested(_State, load_default=None)


class ViewSubmissionSchema(_Foreign):
    """A submitted modal."""

    type = fields.String(required=True, validate=validate.Equal("view_submission"))
    user = fields.Nested(_User, required=True)
    view = fields.Nested(_View, required=True)

    @post_load
    def _to_submission(self, data: dict, **_) -> ViewSubmission:
        view = data["view"]
        values = {action_id: _input_value(value) for action_id, value in _inputs(view["state"]).items()}
        return ViewSubmission(user_id=data["user"]["id"], callback_id=view["callback_id"],
                              private_metadata=view["private_metadata"], values=values)


class JudgmentRefSchema(_Foreign):
    """A judgment button's value (JSON): the execution, the stage's `id`, the channel, and maybe a choice."""

    execution_id = fields.String(data_key="execution", required=True, validate=SPINNAKER_ID)
    stage_id = fields.String(data_key="stage", required=True, validate=SPINNAKER_ID)
    channel = fields.String(required=True, validate=validate.Length(min=1, max=255))
    choice = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(0, MAX_CHOICES - 1))

    @post_load
    def _to_ref(self, data: dict, **_) -> JudgmentRef:
        return JudgmentRef(**data)


class _Origin(_Foreign):
    channel_id = fields.String(load_default=None, allow_none=True)
    message_ts = fields.String(load_default=None, allow_none=True)
    thread_ts = fields.String(load_default=None, allow_none=True)

    @post_load
    def _to_origin(self, data: dict, **_) -> ClickOrigin:
        return ClickOrigin(**data)


class ReasonRequestSchema(_Foreign):
    """The reject modal's `private_metadata` (JSON): the judgment and the message the click came from."""

    ref = fields.Nested(JudgmentRefSchema, required=True)
    origin = fields.Nested(_Origin, required=True)

    @post_load
    def _to_request(self, data: dict, **_) -> ReasonRequest:
        return ReasonRequest(**data)


BLOCK_ACTIONS_SCHEMA = BlockActionsSchema()
VIEW_SUBMISSION_SCHEMA = ViewSubmissionSchema()
JUDGMENT_REF_SCHEMA = JudgmentRefSchema()
REASON_REQUEST_SCHEMA = ReasonRequestSchema()
