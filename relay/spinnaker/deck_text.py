"""Text that messages of every kind share: what started the run, and custom text written in Deck."""

from __future__ import annotations

from typing import Any

from relay.spinnaker.execution import trigger_fact
from schemas.mrkdwn import escape, link, safe_custom_text, truncate

MAX_LABEL = 200  # a trigger label is cut before it goes into a link, so the link survives


def trigger_facts(execution: dict[str, Any], ui_url: str | None = None) -> list[tuple[str, str]]:
    """The `Trigger` fact: a user, a build, a commit, an image or a parent pipeline, linked when possible
    (a parent pipeline when Deck's `ui_url` is given)."""
    label, url = trigger_fact(execution, ui_url)
    return [("Trigger", link(url, truncate(label, MAX_LABEL)))]


def custom_text(preference: dict[str, Any], when: str) -> str | None:
    """Deck's per-`when` text: `message["<when>"].text`, appended below the message."""
    messages = preference.get("message")
    entry = messages.get(when) if isinstance(messages, dict) else None
    text = entry.get("text") if isinstance(entry, dict) else None
    return safe_custom_text(text) if text else None


def custom_body(preference: dict[str, Any], execution_id: str | None, url: str,
                stage_context: dict[str, Any] | None = None) -> str | None:
    """`customMessage` (the preference's, or for stage messages the stage context's) replaces the body;
    {{executionId}} and {{link}} are filled in."""
    template = preference.get("customMessage") or (stage_context or {}).get("customMessage")
    if not isinstance(template, str) or not template:
        return None
    # The link is filled in before the text is made safe, so `<{{link}}|label>` becomes a link as in Echo;
    # the relay builds that URL itself, from quoted parts.
    body = safe_custom_text(template.replace("{{link}}", url))
    return body.replace("{{executionId}}", escape(execution_id or ""))
