"""Adding from → to to a judgment message once it is out: a job per message sent, which looks the previous
successful run up from Gate and rewrites the message through the outbox, never in the webhook's path."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from relay.changes.lookup import look_up
from relay.clients.gate import GateError
from relay.judgments.updates import (
    AWAITING_RANK,
    AWAITING_TEMPLATE,
    IN_FLIGHT_RANK,
    claim_key,
    message_updates,
)
from relay.spinnaker.judgment_stage import judgment_state
from relay.store import Delivery, Job

if TYPE_CHECKING:
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

JOB_KIND = "judgments.change"


def register(handlers: Handlers) -> None:
    handlers.sent(AWAITING_TEMPLATE, on_awaiting_sent)
    handlers.job(JOB_KIND, change_job)


def on_awaiting_sent(services: Services, delivery: Delivery) -> None:
    """An awaiting judgment message went out: queue its from → to, unless nothing can look it up."""
    if services.gate is None or not delivery.message_key:
        return
    services.store.enqueue_job(JOB_KIND, {"message_key": delivery.message_key}, now=services.clock())


def change_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Read the run, find the run before it, and rewrite the message if its stage still waits. A Gate that
    fails leaves the message as it is: the judgment never depends on this lookup."""
    key = str(payload["message_key"])
    execution_id, _, rest = key.partition("/")
    stage_id = rest.rsplit("@", 1)[0]
    try:
        execution = services.gate.execution(execution_id)
    except GateError as err:
        log.warning("run %s not read for its from → to: %s", execution_id, err)
        return
    if not judgment_state(execution, stage_id).open:
        return  # the messages saying how it ended show the change themselves
    if not look_up(services.gate, services.store, execution, now=services.clock()):
        return
    holder = services.store.claim_holder(claim_key(execution_id, stage_id))
    drafts = message_updates(execution, stage_id, settings=services.settings, store=services.store,
                             rank=IN_FLIGHT_RANK if holder is not None else AWAITING_RANK, judgment=holder)
    services.store.queue_deliveries([d for d in drafts if d.message_key == key], now=services.clock())
