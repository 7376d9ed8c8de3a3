"""Tests for the judgment buttons, choices and reason modal, and for loading what Slack sends back."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError
from slack_sdk.models.blocks import ActionsBlock
from slack_sdk.models.views import View

from relay.judgments.blocks import (
    APPROVE,
    CHOOSE,
    OPTION,
    REJECT,
    decode_reason_request,
    decode_ref,
    judgment_actions,
    reason_modal,
)
from relay.models import ClickOrigin, JudgmentRef, ReasonRequest
from tests import events

STAGE_ID = events.JUDGMENT_STAGE_ID


def run_with(**context) -> dict:
    run = events.execution()
    stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
    stage["context"].pop("judgmentInputs")
    stage["context"].update(context)
    return run


def inputs(*values: str) -> list[dict]:
    return [{"value": value} for value in values]


def test_judgment_actions_offer_approve_and_reject_behind_confirmations() -> None:
    approve, reject = judgment_actions(run_with(), STAGE_ID, channel="#deploys")

    assert (approve["action_id"], approve["style"]) == (APPROVE, "primary")
    assert approve["text"]["text"] == "Approve"
    assert (reject["action_id"], reject["style"], reject["text"]["text"]) == (REJECT, "danger", "Reject")
    assert approve["confirm"]["confirm"]["text"] == "Approve"
    assert reject["confirm"]["deny"]["text"] == "Cancel"
    assert "Simple Wait Pipeline" in approve["confirm"]["text"]["text"]
    assert decode_ref(approve["value"]) == JudgmentRef(events.execution()["id"], STAGE_ID, "#deploys")
    ActionsBlock(elements=[approve, reject]).to_dict()  # slack_sdk checks Block Kit limits while serialising


def test_judgment_actions_use_the_stages_own_button_labels() -> None:
    run = run_with(continueButtonLabel="Ship it", stopButtonLabel="Hold")

    approve, reject = judgment_actions(run, STAGE_ID, channel="C0DEPLOYS")

    assert (approve["text"]["text"], reject["text"]["text"]) == ("Ship it", "Hold")
    assert approve["confirm"]["title"]["text"] == "Ship it?"


def test_judgment_actions_turn_a_few_choices_into_buttons() -> None:
    elements = judgment_actions(run_with(judgmentInputs=inputs("Deploy anyway", "Roll back")), STAGE_ID,
                                channel="#deploys")

    assert [e["action_id"] for e in elements] == [f"{CHOOSE}0", f"{CHOOSE}1", REJECT]
    assert [e["text"]["text"] for e in elements[:2]] == ["Approve: Deploy anyway", "Approve: Roll back"]
    assert [decode_ref(e["value"]).choice for e in elements] == [0, 1, None]
    assert [e.get("style") for e in elements] == ["primary", None, "danger"]


def test_judgment_actions_turn_many_choices_into_a_select_menu() -> None:
    choices = [f"region-{n}" for n in range(7)]

    select, approve, reject = judgment_actions(run_with(judgmentInputs=inputs(*choices)), STAGE_ID,
                                               channel="#deploys")

    assert select["type"] == "static_select" and select["action_id"] == OPTION
    options = [(o["text"]["text"], o["value"]) for o in select["options"]]
    assert options == [(choice, str(index)) for index, choice in enumerate(choices)]
    assert (approve["action_id"], reject["action_id"]) == (APPROVE, REJECT)
    ActionsBlock(elements=[select, approve, reject]).to_dict()


def test_judgment_actions_keep_within_slacks_limits_for_long_names() -> None:
    long = "x" * 500
    run = run_with(judgmentInputs=inputs(long, "b"), continueButtonLabel=long)
    run["name"] = "<!channel> " + long

    elements = judgment_actions(run, STAGE_ID, channel="#" + "c" * 80)

    ActionsBlock(elements=list(elements)).to_dict()
    assert all(len(e["value"]) <= 2000 for e in elements)
    assert "<!channel>" not in json.dumps(elements)
    assert "&lt;!channel&gt;" in elements[0]["confirm"]["text"]["text"]


def test_reason_modal_round_trips_its_metadata_and_fits_slacks_limits() -> None:
    origin = ClickOrigin(channel_id="C0DEPLOYS", message_ts="1.000200", thread_ts="1.000100")
    request = ReasonRequest(ref=JudgmentRef("01RUN", STAGE_ID, "#deploys", choice=2), origin=origin)

    view = reason_modal(request)

    View(**view).to_dict()
    assert decode_reason_request(view["private_metadata"]) == request


@pytest.mark.parametrize("value", [None, "", "approve", "[1]", '{"execution": "01RUN"}',
                                   '{"execution": "01RUN", "stage": "a/b", "channel": "#d"}'])
def test_decode_ref_refuses_values_that_are_not_judgment_references(value: str | None) -> None:
    with pytest.raises(ValidationError):
        decode_ref(value)
