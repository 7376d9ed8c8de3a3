"""Block Kit elements for deciding a Manual Judgment: the buttons, the choices, and the reject-reason modal.

`judgment_actions` builds the interactive elements for one awaiting stage; any message that shows a
pending judgment (the stage's notification, a `/spinnaker pending` answer) can carry them. Every value
points at the judgment (execution, stage `id`, channel); clicks are checked against Gate before anything
is done with them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from marshmallow import ValidationError

from relay.models import JudgmentRef, ReasonRequest
from relay.spinnaker.execution import stage_by_id
from schemas.mrkdwn import escape, truncate
from schemas.slack import JUDGMENT_REF_SCHEMA, MAX_CHOICES, REASON_REQUEST_SCHEMA

ACTION_PREFIX = "judgment."
APPROVE = "judgment.approve"
REJECT = "judgment.reject"
CHOOSE = "judgment.choose."  # + the choice's index: a button that approves with that choice
OPTION = "judgment.option"  # the select menu of choices, read from the message state on Approve/Reject
REASON_VIEW = "judgment.reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_text"
MAX_CHOICE_BUTTONS = 3
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_REASON = 2000


def judgment_choices(stage: dict[str, Any]) -> list[str]:
    """The stage's `judgmentInputs` values, in order."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    inputs = context.get("judgmentInputs")
    if not isinstance(inputs, list):
        return []
    return [str(i["value"]) for i in inputs if isinstance(i, dict) and i.get("value") not in (None, "")]


def button_labels(stage: dict[str, Any]) -> tuple[str, str]:
    """Approve and Reject, or the stage's own `continueButtonLabel` / `stopButtonLabel` from Deck."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    approve = str(context.get("continueButtonLabel") or "").strip() or "Approve"
    reject = str(context.get("stopButtonLabel") or "").strip() or "Reject"
    return approve, reject


def judgment_actions(execution: dict[str, Any], stage_id: str, *, channel: str) -> tuple[dict[str, Any], ...]:
    """The actions-block elements for an awaiting Manual Judgment stage: Approve (primary) and Reject
    (danger), both behind a confirmation dialog, plus the stage's choices as buttons when there are a
    few, or as a select menu when there are more."""
    stage = stage_by_id(execution, stage_id)
    ref = JudgmentRef(execution_id=str(execution.get("id")), stage_id=stage_id, channel=channel)
    approve, reject = button_labels(stage)
    run = f"*{escape(execution.get('name') or 'the pipeline')}*"
    name = f"*{escape(stage.get('name') or 'this stage')}*"
    choices = judgment_choices(stage)[:MAX_CHOICES]
    reject_button = _button(REJECT, reject, ref, style="danger", confirm=_confirm(
        reject, f"Stop {run} at {name}? You can give a reason next."))
    if not choices:
        approve_button = _button(APPROVE, approve, ref, style="primary",
                                 confirm=_confirm(approve, f"Let {run} continue past {name}?"))
        return approve_button, reject_button
    if len(choices) <= MAX_CHOICE_BUTTONS:
        buttons = tuple(
            _button(f"{CHOOSE}{index}", f"{approve}: {choice}", dataclasses.replace(ref, choice=index),
                    style="primary" if index == 0 else None,
                    confirm=_confirm(approve, f"Continue {run} past {name} with “{escape(choice)}”?"))
            for index, choice in enumerate(choices))
        return (*buttons, reject_button)
    select = {"type": "static_select", "action_id": OPTION, "placeholder": _plain("Choose an option"),
              "options": [{"text": _plain(choice, MAX_OPTION_TEXT), "value": str(index)}
                          for index, choice in enumerate(choices)]}
    approve_button = _button(APPROVE, approve, ref, style="primary", confirm=_confirm(
        approve, f"Let {run} continue past {name} with the option you chose?"))
    return select, approve_button, reject_button


def encode_ref(ref: JudgmentRef) -> str:
    return json.dumps(JUDGMENT_REF_SCHEMA.dump(ref), separators=(",", ":"))


def decode_ref(value: str | None) -> JudgmentRef:
    """A button value back into a JudgmentRef; ValidationError when it is not one of ours."""
    return _loads(JUDGMENT_REF_SCHEMA, value, "value")


def reason_modal(request: ReasonRequest) -> dict[str, Any]:
    """The modal Reject opens: an optional reason; submitting it rejects the stage."""
    metadata = json.dumps(REASON_REQUEST_SCHEMA.dump(request), separators=(",", ":"))
    return {
        "type": "modal", "callback_id": REASON_VIEW, "private_metadata": metadata,
        "title": _plain("Reject"), "submit": _plain("Reject"), "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": (
                "Stop the pipeline at this Manual Judgment. The reason is shown in the channel and kept in "
                "the relay's audit log.")}},
            {"type": "input", "block_id": REASON_BLOCK, "optional": True,
             "label": _plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True,
                         "max_length": MAX_REASON, "placeholder": _plain("Why stop here?")}},
        ],
    }


def decode_reason_request(metadata: str) -> ReasonRequest:
    return _loads(REASON_REQUEST_SCHEMA, metadata, "private_metadata")


def _loads(schema: Any, raw: str | None, name: str) -> Any:
    try:
        document = json.loads(raw or "")
    except (ValueError, RecursionError):
        raise ValidationError(f"the {name} is not valid JSON", field_name=name) from None
    if not isinstance(document, dict):
        raise ValidationError(f"the {name} must be a JSON object", field_name=name)
    return schema.load(document)


def _button(action_id: str, label: str, ref: JudgmentRef, *, style: str | None,
            confirm: dict[str, Any]) -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": _plain(label, MAX_BUTTON_TEXT),
              "value": encode_ref(ref), "confirm": confirm}
    if style:
        button["style"] = style
    return button


def _confirm(label: str, question: str) -> dict[str, Any]:
    """The dialog Slack shows before sending the click: `<label>?`, the question, `<label>` or Cancel."""
    return {"title": _plain(f"{label}?", 100), "text": {"type": "mrkdwn", "text": truncate(question, 300)},
            "confirm": _plain(label, 30), "deny": _plain("Cancel", 30)}


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}
