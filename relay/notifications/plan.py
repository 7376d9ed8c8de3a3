"""From an accepted Echo event to outbox rows: match, plan the run's parent message and thread (each message a
recipe the dispatcher renders when it sends), and rewrite judgment messages the event makes out of date."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.changes.deploys import planned_change
from relay.config import Settings
from relay.judgments.timers import timer_for
from relay.judgments.updates import AWAITING_TEMPLATE, event_updates, judgment_message_key
from relay.models import EchoEvent, Notification
from relay.notifications.match import decide
from relay.notifications.recipes import ALERT, SUMMARY, event_facts, recipe
from relay.rules.addresses import NOT_ALLOWED, OVER_LIMIT, screen
from relay.store import DeliveryDraft, DuplicateEvent, Store

log = logging.getLogger(__name__)

# Finished states that also reply in the run's thread, shown in the channel, so that people are notified.
ALERTED_TEMPLATES = frozenset({"pipeline.failed", "pipeline.canceled"})
# A parent message never goes back from a finished state to a running one.
RANKS = {"pipeline.starting": 1, "pipeline.complete": 2, "pipeline.failed": 2, "pipeline.canceled": 2}
LOGGED_ADDRESSES = 20  # refused addresses named in the log line; the answer names them all


@dataclass(frozen=True)
class Outcome:
    """What the webhook answers: `queued` (202), `ignored` or `duplicate` (200), and the addresses refused."""

    result: str
    reason: str | None = None
    notifications: int = 0
    event_id: str | None = None
    refused: dict[str, list[str]] = field(default_factory=dict)


def receive(event: EchoEvent, raw_body: bytes, *, settings: Settings, store: Store,
            clock: Callable[[], float] = time.time) -> Outcome:
    """Decide what the event notifies, and which judgment messages it makes out of date, and commit it with
    its facts and its deliveries in one transaction."""
    decision = decide(event, types=settings.notification_types, routes=settings.rules.routes)
    screened = screen(decision.notifications, settings=settings)
    drafts = plan(screened.notifications, settings=settings, store=store)
    drafts += event_updates(event, settings=settings, store=store)
    if not drafts and not screened.refused:  # the usual answer: no hashing of the body, no database
        return Outcome("ignored", decision.reason, event_id=event.event_id)
    event_id = event.event_id or "sha256:" + hashlib.sha256(raw_body).hexdigest()
    _log_refused(event_id, screened.refused, settings)
    if not drafts:
        reason = "every address was refused" if screened.refused else decision.reason
        return Outcome("ignored", reason, event_id=event.event_id, refused=screened.refused)
    try:
        now = clock()
        store.accept_event(event_id=event_id, type=event.type, application=event.application,
                           execution_id=event.execution_id, drafts=drafts, now=now,
                           facts=event_facts(event) if screened.notifications else None,
                           timer=timer_for(screened.notifications, settings=settings, now=now))
    except DuplicateEvent:
        return Outcome("duplicate", "this eventId was accepted before", event_id=event_id)
    return Outcome("queued", notifications=len(drafts), event_id=event_id, refused=screened.refused)


def _log_refused(event_id: str, refused: dict[str, list[str]], settings: Settings) -> None:
    if refused.get(OVER_LIMIT):
        addresses = refused[OVER_LIMIT]
        log.warning("event %s names %d addresses over the limit of %d (RELAY_MAX_ADDRESSES_PER_EVENT), not "
                    "notified: %s", event_id, len(addresses), settings.max_addresses_per_event,
                    _some(addresses))
    if refused.get(NOT_ALLOWED):
        addresses = refused[NOT_ALLOWED]
        log.warning("event %s names %d addresses the channel allow-list does not permit, not notified: %s",
                    event_id, len(addresses), _some(addresses))


def _some(addresses: list[str]) -> str:
    named = ", ".join(addresses[:LOGGED_ADDRESSES])
    rest = len(addresses) - LOGGED_ADDRESSES
    return named + (f" and {rest} more" if rest > 0 else "")


def plan(notifications: tuple[Notification, ...], *, settings: Settings, store: Store) -> list[DeliveryDraft]:
    """Deliveries for each notification: the run's parent message is posted once and updated in place,
    stage and judgment messages reply in its thread (opened by a summary of the run when it has no parent
    message yet), a failed or canceled run also replies there with a broadcast (or everything is posted on
    its own when `message_per_run` is off). Each carries the recipe of its message, not the message."""
    drafts: list[DeliveryDraft] = []
    for notification in notifications:
        event = notification.event
        channel = notification.address
        run_key = f"{event.execution_id or event.event_id}@{channel}"
        family = notification.template.split(".")[0]
        change = planned_change(notification, store=store, ui_url=settings.spinnaker_ui_url)
        # Mapped messages are rewritten later: the awaiting one (it carries the buttons), and a deploy stage's
        # whose from → to is not known yet.
        message_key = judgment_message_key(event.execution_id, event.content.get("stageId"), channel) \
            if notification.template == AWAITING_TEMPLATE else (change.message_key if change else None)
        line = change.line if change else None  # rendered into the message with the rest, at send time
        if not settings.message_per_run:
            drafts.append(DeliveryDraft(thread_key=run_key, channel=channel, action="post",
                                        template=notification.template, payload={},
                                        recipe=recipe(notification, change=line), message_key=message_key))
        elif family == "pipeline":
            drafts.append(DeliveryDraft(thread_key=run_key, channel=channel, action="upsert",
                                        template=notification.template, payload={},
                                        recipe=recipe(notification), message_key=run_key,
                                        rank=RANKS.get(notification.template, 1)))
            if notification.template in ALERTED_TEMPLATES:
                drafts.append(DeliveryDraft(thread_key=run_key, channel=channel, action="reply",
                                            template=notification.template, payload={},
                                            recipe=recipe(notification, ALERT), parent_key=run_key))
        else:
            drafts.append(DeliveryDraft(thread_key=run_key, channel=channel, action="upsert",
                                        template="pipeline.summary", message_key=run_key, rank=0, payload={},
                                        recipe=recipe(notification, SUMMARY), opens_thread=True))
            drafts.append(DeliveryDraft(thread_key=run_key, channel=channel, action="reply",
                                        template=notification.template, payload={},
                                        recipe=recipe(notification, change=line,
                                                      broadcast=notification.template == AWAITING_TEMPLATE),
                                        parent_key=run_key, message_key=message_key))
    return drafts
