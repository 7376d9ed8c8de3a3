"""From → to on deploy stage messages: the line as the store knows it when the message is planned, and, when
it does not know it yet, a job after the message is out that asks Gate and rewrites that one line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.changes.lookup import known_change, look_up
from relay.clients.gate import GateError
from relay.models import Notification
from relay.spinnaker.deployed import change_line, is_deploy_stage
from relay.spinnaker.versions import version_of
from relay.store import Delivery, DeliveryDraft, Job, Store
from schemas.blocks import section

if TYPE_CHECKING:
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

JOB_KIND = "deploys.change"
UPDATE_TEMPLATE = "deploy.change"
KEY_PREFIX = "deploy/"
# A skipped deploy stage puts nothing out, so its message names no change.
TEMPLATES = ("stage.starting", "stage.complete", "stage.failed")
UPDATE_RANK = 1  # above the message as posted (0), so the rewrite is never left out as an older state


@dataclass(frozen=True)
class PlannedChange:
    """The from → to line of a deploy stage's message, and the message's key when the line waits for a
    lookup (None when the store already knew the answer)."""

    line: str
    message_key: str | None = None


def planned_change(notification: Notification, *, store: Store, ui_url: str) -> PlannedChange | None:
    """The line for a deploy stage's message, read from the store only (Gate is never waited for here); None
    for any other message."""
    event = notification.event
    if notification.template not in TEMPLATES or not event.execution_id or not is_deploy_stage(event):
        return None
    known = known_change(store, event.execution, ui_url)
    if known is not None:
        return PlannedChange(known)
    key = None
    if event.execution.get("pipelineConfigId"):  # a task run by hand has no pipeline to look up
        stage = f"{event.content.get('stageId')}/{notification.template.split('.')[1]}"
        key = f"{KEY_PREFIX}{event.execution_id}/{stage}@{notification.address}"
    return PlannedChange(change_line(version_of(event.execution)), key)


def register(handlers: Handlers) -> None:
    for template in TEMPLATES:
        handlers.sent(template, on_stage_sent)
    handlers.job(JOB_KIND, change_job)


def on_stage_sent(services: Services, delivery: Delivery) -> None:
    """A deploy stage's message went out saying `unknown`: queue its lookup, unless nothing can look it up."""
    if services.gate is None or not (delivery.message_key or "").startswith(KEY_PREFIX):
        return
    services.store.enqueue_job(JOB_KIND, {"message_key": delivery.message_key, "channel": delivery.channel,
                                          "thread_key": delivery.thread_key, "body": delivery.payload},
                               now=services.clock())


def change_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Read the run, find the run before it (from the store, or Gate once for every replica), and rewrite the
    message's from → to line in place. A Gate that fails leaves the message saying `unknown`."""
    key = str(payload["message_key"])
    execution_id = key[len(KEY_PREFIX):].split("/", 1)[0]
    try:
        execution = services.gate.execution(execution_id)
    except GateError as err:
        log.warning("run %s not read for its from → to: %s", execution_id, err)
        return
    if not look_up(services.gate, services.store, execution, now=services.clock()):
        return
    line = known_change(services.store, execution, services.settings.spinnaker_ui_url)
    body = with_line(payload["body"], change_line(version_of(execution)), line) if line else None
    if body is None:
        return
    services.store.queue_deliveries([DeliveryDraft(
        thread_key=str(payload["thread_key"]), channel=str(payload["channel"]), action="upsert",
        template=UPDATE_TEMPLATE, payload=body, message_key=key, rank=UPDATE_RANK)], now=services.clock())


def with_line(body: dict[str, Any], old: str, new: str) -> dict[str, Any] | None:
    """`body` with the section line `old` (a whole line, as the message was planned) replaced by `new`; None
    when no section has it."""
    blocks = list(body.get("blocks") or [])
    for index, block in enumerate(blocks):
        text = block.get("text") if block.get("type") == "section" else None
        lines = text.get("text", "").split("\n") if isinstance(text, dict) else []
        if old in lines:
            lines[lines.index(old)] = new
            blocks[index] = {**block, **section("\n".join(lines))}
            return {**body, "blocks": blocks}
    return None
