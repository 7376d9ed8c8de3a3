"""What `slackops-relay preview` prints: the deliveries the relay would plan for an event, each with what the
dispatcher does with it, its Slack message, and a Block Kit Builder link."""

from __future__ import annotations

import json
from urllib.parse import quote

from relay.changes.deploys import KEY_PREFIX
from relay.config import Settings
from relay.delivery.dispatcher import describe_delivery
from relay.models import EchoEvent
from relay.notifications.match import decide
from relay.notifications.plan import plan
from relay.notifications.recipes import render_recipe
from relay.rules.addresses import screen
from relay.store import Store

BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"


def preview_lines(event: EchoEvent, settings: Settings) -> list[str]:
    """The relay's own matching, screening and planning, against an empty store: what a run seen for the
    first time gets."""
    decision = decide(event, types=settings.notification_types, routes=settings.rules.routes)
    screened = screen(decision.notifications, settings=settings)
    if not screened.notifications:
        return [f"no message: {decision.reason or 'every address was refused'}"]
    lines = []
    store = Store.from_url("sqlite://")  # a relay that has sent nothing for this run yet
    store.create_schema()
    try:
        for notification in screened.notifications:
            for draft in plan((notification,), settings=settings, store=store):
                body = render_recipe(draft.recipe, event, settings=settings, store=store)
                lines.append(f"# {notification.template} to {draft.channel} (when {notification.when}): "
                             f"{describe_delivery(draft.action, draft.channel, body)}"
                             f"{_follow_up(draft.message_key, settings)}")
                lines.append(json.dumps(body, indent=2, ensure_ascii=False))
                blocks = {"blocks": body["blocks"]}
                lines.append(BLOCK_KIT_BUILDER + quote(json.dumps(blocks, separators=(",", ":"))))
    finally:
        store.engine.dispose()
    return lines


def _follow_up(message_key: str | None, settings: Settings) -> str:
    """What happens to a deploy stage's message after it is posted without its from → to."""
    if not (message_key or "").startswith(KEY_PREFIX):
        return ""
    if settings.gate_url:
        return "; then its from → to is looked up from Gate and that line rewritten"
    return "; its from → to stays unknown (no GATE_URL to look it up)"
