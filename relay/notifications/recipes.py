"""Messages rendered at send time: the recipe a planned delivery carries instead of Block Kit, the event's
facts stored beside it, and the rendering the dispatcher asks for just before it sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.config import Settings
from relay.judgments.updates import notification_body
from relay.models import EchoEvent, Notification
from relay.notifications.render import render, render_run_summary, render_thread_alert
from relay.store import Delivery, Store

if TYPE_CHECKING:
    from relay.services import Handlers, Services

# What a recipe renders: the notification's own message, its short alert for the thread, or the run's
# parent message built from the event (for a thread that starts mid-run).
MESSAGE, ALERT, SUMMARY = "message", "alert", "summary"


def recipe(notification: Notification, kind: str = MESSAGE, *, change: str | None = None,
           broadcast: bool = False) -> dict[str, Any]:
    """What rendering needs beyond the event's facts: the notification, how it is shown, and a deploy stage's
    from → to line as the store knew it when the message was planned."""
    if kind == SUMMARY:
        return {"render": SUMMARY}
    made = {"render": kind, "address": notification.address, "when": notification.when,
            "template": notification.template, "preference": notification.preference}
    if change is not None:
        made["change"] = change
    return {**made, "broadcast": True} if broadcast else made


def event_facts(event: EchoEvent) -> dict[str, Any]:
    """The event as stored for rendering later (already normalized from Echo's body shapes)."""
    return {"eventId": event.event_id, "source": event.source, "type": event.type,
            "application": event.application, "content": event.content}


def render_recipe(made: dict[str, Any], event: EchoEvent, *, settings: Settings,
                  store: Store) -> dict[str, Any]:
    """The chat.postMessage body a recipe makes of `event`: what rendering at ingest used to store."""
    if made["render"] == SUMMARY:
        return render_run_summary(event, settings.spinnaker_ui_url)
    notification = Notification(event=event, address=made["address"], when=made["when"],
                                template=made["template"], preference=made["preference"])
    family, state = notification.template.split(".")
    if family == "judgment":
        body = notification_body(notification, state, settings=settings, store=store)
    else:
        body = render(notification, settings.spinnaker_ui_url, change=made.get("change"))
    if made["render"] == ALERT:
        return render_thread_alert(body)
    return {**body, "reply_broadcast": True} if made.get("broadcast") else body


def render_delivery(services: Services, delivery: Delivery) -> dict[str, Any]:
    """A leased delivery's message, rendered from its event's stored facts."""
    facts = services.store.event_facts(delivery.event_id) if delivery.event_id else None
    if facts is None:
        raise LookupError(f"delivery {delivery.id} has a recipe but its event {delivery.event_id} kept no "
                          "facts")
    event = EchoEvent(event_id=facts["eventId"], source=facts["source"], type=facts["type"],
                      application=facts["application"], content=facts["content"])
    return render_recipe(delivery.recipe or {}, event, settings=services.settings, store=services.store)


def register(handlers: Handlers) -> None:
    handlers.renderer(render_delivery)
