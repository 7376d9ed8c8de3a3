"""Keeping judgment messages true: outbox deliveries that rewrite every message of a stage, whoever decided.

A stage's messages are found through the message map (`<executionId>/<stageId>@<channel>`), and through
the outbox for messages not posted yet. Updates go through the outbox like every other Slack write, on the
run's thread key so they follow the post they rewrite, and with a rank so a late update never brings an
older state back: awaiting (0, the original post) < in flight or reopened (1) < final (2).
"""

from __future__ import annotations

from typing import Any

from relay.changes.lookup import known_change
from relay.config import Settings
from relay.judgments.messages import judgment_message, notification_facts
from relay.models import EchoEvent, Notification
from relay.spinnaker.execution import stage_by_id, with_event_stage
from relay.spinnaker.judgment_stage import (
    AWAITING,
    JUDGING,
    MISSING,
    JudgmentState,
    is_judgment_stage,
    judgment_state,
)
from relay.store import DeliveryDraft, Judgment, Store
from schemas.messages import MESSAGE_SCHEMA

AWAITING_TEMPLATE = "judgment.awaiting"
NOTE_TEMPLATE = "judgment.note"
UPDATE_TEMPLATE = "judgment.update"
AWAITING_RANK, REOPENED_RANK, IN_FLIGHT_RANK, FINAL_RANK = 0, 1, 1, 2
EVENT_STATUSES = {"complete": "SUCCEEDED", "failed": "TERMINAL"}
STILL_WAITING = (AWAITING, JUDGING, MISSING)  # or the execution cannot tell


def judgment_message_key(execution_id: str | None, stage_id: str | None, channel: str) -> str:
    """The message map key of a Manual Judgment stage's message in one channel."""
    return f"{execution_id}/{stage_id}@{channel}"


def claim_key(execution_id: str, stage_id: str) -> str:
    """What a Slack judgment holds while it speaks for a stage (see Store.claim_judgment)."""
    return f"{execution_id}/{stage_id}"


def stage_messages(store: Store, execution_id: str, stage_id: str) -> dict[str, str]:
    """Every message (posted or queued) of a stage: message key -> the channel address it went to."""
    prefix = judgment_message_key(execution_id, stage_id, "")
    keys = set(store.messages_with_prefix(prefix)) | store.queued_message_keys(prefix, AWAITING_TEMPLATE)
    return {key: key[len(prefix):] for key in sorted(keys)}


def message_updates(execution: dict[str, Any], stage_id: str, *, settings: Settings, store: Store, rank: int,
                    judgment: Judgment | None = None, note: str | None = None,
                    reading: JudgmentState | None = None, waited: float | None = None) -> list[DeliveryDraft]:
    """Rewrite every message of the stage to show `execution` (and `judgment`, the Slack judgment that
    speaks for the stage, if any), with the run's from → to once it is known; `reading` overrides what the
    execution shows (an expiry the relay saw first), `waited` is how long the stage has waited so far."""
    execution_id = str(execution.get("id"))
    stage = stage_by_id(execution, stage_id)
    messages = stage_messages(store, execution_id, stage_id)
    change = known_change(store, execution, settings.spinnaker_ui_url) if messages else None
    drafts = []
    for key, address in messages.items():
        body = judgment_message(execution, stage_id, settings.spinnaker_ui_url, channel=address,
                                preference=_preference(stage, address), judgment=judgment, note=note,
                                reading=reading, waited=waited, change=change)
        drafts.append(DeliveryDraft(thread_key=f"{execution_id}@{address}", channel=address, action="upsert",
                                    template=UPDATE_TEMPLATE, message_key=key, rank=rank, payload=body))
    return drafts


def event_updates(event: EchoEvent, *, settings: Settings, store: Store) -> list[DeliveryDraft]:
    """When an event shows a judgment's wait is over (its stage completed or failed, or the run ended),
    rewrite the stage's messages to say what happened, whatever the notification preferences ask for."""
    origin, kind, status = event.type_parts
    if origin != "orca" or status not in EVENT_STATUSES or not event.execution_id:
        return []
    execution_id = str(event.execution_id)
    if kind == "stage":
        if not is_judgment_stage(event):
            return []
        stage_id = str(event.content.get("stageId") or "")
        final = "CANCELED" if event.content.get("canceled") is True else EVENT_STATUSES[status]
        views = {stage_id: with_event_stage(event.execution, stage_id, event.content, status=final)}
    elif kind in ("pipeline", "orchestration"):
        stages = event.execution.get("stages")
        stages = stages if isinstance(stages, list) else []
        if not any(_wait_over(event.execution, stage) for stage in stages):
            return []  # no judgment of this run has finished waiting: its messages need no look-up
        prefix = f"{execution_id}/"
        keys = set(store.messages_with_prefix(prefix)) | store.queued_message_keys(prefix, AWAITING_TEMPLATE)
        views = {key[len(prefix):].rsplit("@", 1)[0]: event.execution for key in keys}
    else:
        return []
    drafts: list[DeliveryDraft] = []
    for stage_id, execution in sorted(views.items()):
        if judgment_state(execution, stage_id).state in STILL_WAITING:
            continue  # still waiting, or the snapshot cannot tell
        judgment = store.claim_holder(claim_key(execution_id, stage_id))
        drafts += message_updates({**execution, "id": execution_id}, stage_id, settings=settings, store=store,
                                  rank=FINAL_RANK, judgment=judgment)
    return drafts


def notification_body(notification: Notification, state: str, *, settings: Settings,
                      store: Store) -> dict[str, Any]:
    """A judgment notification's message, showing the Slack judge when a Slack judgment decided the stage."""
    event = notification.event
    judgment = None
    if state != "awaiting" and event.execution_id:
        judgment = store.claim_holder(claim_key(str(event.execution_id), str(event.content.get("stageId"))))
    facts = notification_facts(notification, state, settings.spinnaker_ui_url, judgment=judgment)
    return MESSAGE_SCHEMA.dump(facts)


def _wait_over(execution: dict[str, Any], stage: Any) -> bool:
    """Whether `stage` of `execution` is a Manual Judgment that no longer waits, as far as the run shows."""
    return (isinstance(stage, dict) and stage.get("type") == "manualJudgment"
            and judgment_state(execution, str(stage.get("id"))).state not in STILL_WAITING)


def _preference(stage: dict[str, Any], address: str) -> dict[str, Any]:
    """The stage's notification preference for this channel, for its custom text (routes have none)."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    for preference in context.get("notifications") or []:
        if isinstance(preference, dict) and str(preference.get("address") or "").strip() == address:
            return preference
    return {}


def private_note(text: str, *, user_id: str, channel_id: str | None, thread_ts: str | None,
                 key: str) -> list[DeliveryDraft]:
    """A note only `user_id` sees, in the channel (and thread) they clicked in; a direct message when the
    click came from no channel (their App Home). `key` orders it among the outbox's deliveries (a note
    waits for nothing else)."""
    if not channel_id:
        return [DeliveryDraft(thread_key=key, channel=user_id, action="post", template=NOTE_TEMPLATE,
                              payload={"text": text})]
    return [DeliveryDraft(thread_key=key, channel=channel_id, action="ephemeral", template=NOTE_TEMPLATE,
                          payload={"user": user_id, "thread_ts": thread_ts, "text": text})]
