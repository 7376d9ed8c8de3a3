"""Manual Judgments clicked in Slack, the fast side: record the click (Reject first asks for a reason in a
modal) and answer Slack at once. The dispatcher resolves it later through relay/judgments/resolution.py."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from relay.clients.slack import classify
from relay.judgments.blocks import (
    ACTION_PREFIX,
    APPROVE,
    CHOOSE,
    MAX_REASON,
    OPTION,
    REASON_INPUT,
    REASON_VIEW,
    REJECT,
    decode_reason_request,
    decode_ref,
    reason_modal,
)
from relay.judgments.resolve import resolve
from relay.models import BlockActions, ClickOrigin, JudgmentRef, ReasonRequest
from relay.rules.policy import JUDGE
from relay.store import RECEIVED
from schemas.slack import BLOCK_ACTIONS_SCHEMA, MAX_CHOICES, VIEW_SUBMISSION_SCHEMA

if TYPE_CHECKING:
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

JOB_KIND = "judgment"


def register(handlers: Handlers) -> None:
    """Judgment buttons and select, the reject-reason modal, and the job that resolves a judgment."""
    handlers.action(ACTION_PREFIX, on_action)
    handlers.view(REASON_VIEW, on_reason)
    handlers.job(JOB_KIND, resolve)


def setup_warnings(services: Services) -> list[str]:
    """What keeps judgments from working, said once at startup."""
    warnings = []
    if not services.settings.slack_signing_secret:
        warnings.append("SLACK_SIGNING_SECRET is not set: every Slack interaction is refused with 401, "
                        "so nobody can judge from Slack")
    if not services.settings.gate_url:
        warnings.append("GATE_URL is not set: judgments clicked in Slack cannot reach Spinnaker")
    if not services.policy.rules.get(JUDGE):
        warnings.append("the configuration has no `approvers` policy: no one may judge from Slack in any "
                        "application")
    return warnings


def on_action(services: Services, payload: dict[str, Any], action: dict[str, Any]) -> None:
    """A click on a judgment element. Picking an option changes only the message's state; Approve and the
    choice buttons record a decision to continue; Reject opens the reason modal."""
    click = BLOCK_ACTIONS_SCHEMA.load(payload)
    action_id = str(action.get("action_id"))
    element = next(a for a in click.actions if a.action_id == action_id)
    if action_id == OPTION:
        return None
    ref = decode_ref(element.value)
    if action_id == REJECT:
        _ask_reason(services, click, _with_selection(ref, click))
    elif action_id == APPROVE:
        _record(services, _with_selection(ref, click), decision="continue", user_id=click.user_id,
                origin=click.origin)
    elif action_id.startswith(CHOOSE):
        _record(services, ref, decision="continue", user_id=click.user_id, origin=click.origin)
    return None


def on_reason(services: Services, payload: dict[str, Any]) -> None:
    """The reason modal was submitted: record the rejection. An empty answer closes the modal."""
    submission = VIEW_SUBMISSION_SCHEMA.load(payload)
    request = decode_reason_request(submission.private_metadata)
    reason = (submission.values.get(REASON_INPUT) or "").strip()[:MAX_REASON] or None
    _record(services, request.ref, decision="stop", user_id=submission.user_id, origin=request.origin,
            reason=reason)
    return None


def _ask_reason(services: Services, click: BlockActions, ref: JudgmentRef) -> None:
    """views.open now, inside the ack: the trigger_id is good for three seconds. If Slack will not show the
    modal, the rejection (already confirmed in its dialog) goes ahead without a reason."""
    view = reason_modal(ReasonRequest(ref=ref, origin=click.origin))
    if services.poster is not None and click.trigger_id:
        try:
            services.poster.open_view(click.trigger_id, view)
            return
        except Exception as err:  # a modal Slack refuses must not lose the click
            log.warning("could not open the reason modal (%s); rejecting without a reason",
                        classify(err).error)
    _record(services, ref, decision="stop", user_id=click.user_id, origin=click.origin)


def _with_selection(ref: JudgmentRef, click: BlockActions) -> JudgmentRef:
    """The option picked in the message's select menu, if any, rides along with Approve or Reject."""
    selected = click.selections.get(OPTION)
    if selected is None or not selected.isdigit() or int(selected) >= MAX_CHOICES:
        return ref
    return dataclasses.replace(ref, choice=int(selected))


def _record(services: Services, ref: JudgmentRef, *, decision: str, user_id: str, origin: ClickOrigin,
            reason: str | None = None) -> None:
    judgment_id = services.store.record_judgment({
        "execution_id": ref.execution_id, "stage_id": ref.stage_id, "address": ref.channel,
        "decision": decision, "input_index": ref.choice, "reason": reason, "user_id": user_id,
        "channel_id": origin.channel_id, "message_ts": origin.message_ts, "thread_ts": origin.thread_ts,
        "status": RECEIVED}, now=services.clock(), job_kind=JOB_KIND)
    log.info("judgment %d: %s asked to %s stage %s of %s", judgment_id, user_id, decision, ref.stage_id,
             ref.execution_id)
