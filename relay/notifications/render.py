"""Turns a Notification into MessageFacts (what to say) and, through schemas/messages.py, Block Kit."""

from __future__ import annotations

from typing import Any

from relay.judgments.messages import notification_facts
from relay.models import EchoEvent, MessageFacts, Notification
from relay.spinnaker.deck_text import custom_body, custom_text, trigger_facts
from relay.spinnaker.deployed import deployed_lines
from relay.spinnaker.execution import (
    duration_ms,
    execution_link,
    failing_stage,
    failure_in,
    format_duration,
    owner_of,
    stage_by_id,
    stage_error,
)
from schemas.messages import MESSAGE_SCHEMA
from schemas.mrkdwn import escape, link, truncate

PIPELINE_WORDS = {
    "starting": (":arrow_forward:", "started", "is starting"),
    "complete": (":white_check_mark:", "succeeded", "has completed successfully"),
    "failed": (":x:", "failed", "has failed"),
    "canceled": (":no_entry_sign:", "was canceled", "was canceled"),
    "running": (":arrows_counterclockwise:", "is running", "is running"),
}
STAGE_WORDS = {"starting": "started", "complete": "completed", "failed": "failed", "skipped": "was skipped"}
# Names are cut before they go into links, so a huge name never pushes the link out of its block.
MAX_NAME = 200
# An error is shown up to its first line break or this many characters; the stage link has the whole text.
MAX_ERROR = 300


def render(notification: Notification, ui_url: str, *, change: str | None = None) -> dict[str, Any]:
    """The chat.postMessage body (`text` and `blocks`) for one notification; a stage message shows the run's
    `change` line (from → to) first among what is deployed."""
    return MESSAGE_SCHEMA.dump(message_facts(notification, ui_url, change=change))


def render_run_summary(event: EchoEvent, ui_url: str) -> dict[str, Any]:
    """A run's parent message built from whatever event arrived first, for threads that start mid-run."""
    status = {"SUCCEEDED": "complete", "TERMINAL": "failed", "CANCELED": "canceled"}.get(
        str(event.execution.get("status")), "running")
    return MESSAGE_SCHEMA.dump(_pipeline_facts(event, status, {}, "", ui_url))


def render_thread_alert(message: dict[str, Any]) -> dict[str, Any]:
    """A run's failure or cancellation as a short thread reply also shown in the channel: updating the parent
    message notifies nobody, a broadcast reply does. Keeps the text sections (summary, error, custom text)."""
    sections = [block for block in message["blocks"] if block["type"] == "section" and "text" in block]
    return {"text": message["text"], "blocks": sections, "reply_broadcast": True}


def message_facts(notification: Notification, ui_url: str, *, change: str | None = None) -> MessageFacts:
    """Dispatch on the template chosen by matching."""
    family, state = notification.template.split(".")
    if family == "pipeline":
        return _pipeline_facts(notification.event, state, notification.preference, notification.when, ui_url)
    if family == "judgment":
        return notification_facts(notification, state, ui_url)
    return _stage_facts(notification, state, ui_url, change)


def _pipeline_facts(event: EchoEvent, state: str, preference: dict, when: str, ui_url: str) -> MessageFacts:
    execution = event.execution
    application = _application(event)
    name = _name(execution.get("name") or execution.get("description"), "pipeline")
    orchestration = event.type_parts[1] == "orchestration" or execution.get("type") == "ORCHESTRATION"
    url = execution_link(ui_url, application, str(event.execution_id or ""), orchestration=orchestration)
    emoji, word, sentence = PIPELINE_WORDS[state]
    noun = "task" if orchestration else "pipeline"
    facts = [("Application", escape(application)),
             ("Status", escape(execution.get("status") or state.upper())), *trigger_facts(execution, ui_url)]
    elapsed = format_duration(duration_ms(execution.get("startTime"), execution.get("endTime")))
    if elapsed:
        facts.append(("Duration", elapsed))
    detail = None
    if state == "failed":
        detail = _failure_detail(execution, application, event, ui_url)
    elif state == "canceled":
        who = execution.get("canceledBy") or "someone"
        reason = execution.get("cancellationReason")
        detail = f"*Canceled by* {escape(who)}" + (f": {escape(reason)}" if reason else "")
        # A run stopped by a failing stage is marked canceled too: the failure is still the news.
        failure = _failure_detail(execution, application, event, ui_url)
        detail = f"{detail}\n{failure}" if failure else detail
    summary = f"*{link(url, name)}* in *{escape(application)}* {word}"
    return MessageFacts(
        fallback=escape(f"{_capitalize(application)}'s {name} {noun} {sentence}"),
        headline=f"{emoji} {name} {word}",
        summary=custom_body(preference, event.execution_id, url) or summary,
        facts=tuple(facts), deployed=tuple(deployed_lines(execution)), detail=detail,
        custom=custom_text(preference, when), link=url,
        footer=f"{noun.title()} execution `{escape(event.execution_id or '?')}`",
    )


def _stage_facts(notification: Notification, state: str, ui_url: str, change: str | None) -> MessageFacts:
    event = notification.event
    stage = stage_by_id(event.execution, event.content.get("stageId"))
    application = _application(event)
    name = _name(event.content.get("name") or stage.get("name"), "stage")
    pipeline = _name(event.execution.get("name"), "pipeline")
    run_url = execution_link(ui_url, application, str(event.execution_id or ""))
    url = execution_link(ui_url, application, str(event.execution_id or ""), stage_ref=stage.get("refId"))
    word = STAGE_WORDS.get(state, state)
    facts = [("Application", escape(application)), ("Pipeline", link(run_url, pipeline)),
             ("Status", escape(stage.get("status") or state.upper())),
             *trigger_facts(event.execution, ui_url)]
    elapsed = format_duration(duration_ms(event.content.get("startTime"), event.content.get("endTime")))
    if elapsed:
        facts.append(("Duration", elapsed))
    summary = f"Stage *{link(url, name)}* {word}"
    detail = None
    if state == "failed":
        failed = failure_in(event.execution, stage) if stage else {}
        error = stage_error(failed) or stage_error({"context": event.content.get("context")})
        detail = _error_line(error, url)
    return MessageFacts(
        fallback=escape(f"Stage {name} for {_capitalize(application)}'s {pipeline} pipeline {word}"),
        summary=custom_body(notification.preference, event.execution_id, url, _context(event)) or summary,
        facts=tuple(facts), deployed=(*([change] if change else []), *deployed_lines(event.execution)),
        detail=detail, custom=custom_text(notification.preference, notification.when),
        link=url, link_label="Open stage in Spinnaker",
    )


def _failure_detail(execution: dict, application: str, event: EchoEvent, ui_url: str) -> str | None:
    """The failed stage (`Owner › synthetic child` when the child failed) and its shortened error."""
    stage = failing_stage(execution)
    if not stage:
        return None
    owner = owner_of(execution, stage)
    url = execution_link(ui_url, application, str(event.execution_id or ""), stage_ref=owner.get("refId"))
    names = [_name(owner.get("name"), "stage")]
    if owner is not stage:
        names.append(_name(stage.get("name"), "stage"))
    text = f"*Failed stage:* {link(url, ' › '.join(names))}"
    error = _error_line(stage_error(stage), url)
    return f"{text}\n{error}" if error else text


def _error_line(error: str | None, url: str) -> str | None:
    """`*Error:* <first line, shortened>`, with a link to the stage when the text was cut."""
    if not error:
        return None
    first = error.strip().splitlines()[0].strip()
    short = truncate(first, MAX_ERROR)
    more = f" ({link(url, 'full error')})" if short != error.strip() else ""
    return f"*Error:* {escape(short)}{more}"


def _context(event: EchoEvent) -> dict[str, Any]:
    context = event.content.get("context")
    return context if isinstance(context, dict) else {}


def _application(event: EchoEvent) -> str:
    return _name(event.application or event.execution.get("application"), "unknown")


def _name(value: object, default: str) -> str:
    """A name from the event as text, cut to MAX_NAME characters."""
    return truncate(str(value), MAX_NAME) if value not in (None, "") else default


def _capitalize(application: str) -> str:
    """Echo's WordUtils.capitalize: the first letter of each word upper-cased, the rest kept."""
    return " ".join(word[:1].upper() + word[1:] for word in application.split(" "))
