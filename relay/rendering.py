"""Turns a Notification into MessageFacts (what to say) and, through schemas/messages.py, Block Kit."""

from __future__ import annotations

import time
from typing import Any

from relay.execution import (
    duration_ms, execution_link, failing_stage, format_duration, stage_by_id, stage_error, trigger_fact,
)
from relay.models import EchoEvent, MessageFacts, Notification
from relay.mrkdwn import date, escape, html_to_mrkdwn, link, safe_custom_text
from schemas.messages import MESSAGE_SCHEMA

DEFAULT_JUDGMENT_TIMEOUT_MS = 3 * 24 * 3600 * 1000
PIPELINE_WORDS = {
    "starting": (":arrow_forward:", "started", "is starting"),
    "complete": (":white_check_mark:", "succeeded", "has completed successfully"),
    "failed": (":x:", "failed", "has failed"),
    "canceled": (":no_entry_sign:", "was canceled", "was canceled"),
    "running": (":arrows_counterclockwise:", "is running", "is running"),
}
STAGE_WORDS = {"starting": "started", "complete": "completed", "failed": "failed", "skipped": "was skipped"}


def render(notification: Notification, ui_url: str) -> dict[str, Any]:
    """The chat.postMessage body (`text` and `blocks`) for one notification."""
    return MESSAGE_SCHEMA.dump(message_facts(notification, ui_url))


def render_run_summary(event: EchoEvent, ui_url: str) -> dict[str, Any]:
    """A run's parent message built from whatever event arrived first, for threads that start mid-run."""
    status = {"SUCCEEDED": "complete", "TERMINAL": "failed", "CANCELED": "canceled"}.get(
        str(event.execution.get("status")), "running")
    return MESSAGE_SCHEMA.dump(_pipeline_facts(event, status, {}, "", ui_url))


def message_facts(notification: Notification, ui_url: str) -> MessageFacts:
    """Dispatch on the template chosen by matching."""
    family, state = notification.template.split(".")
    if family == "pipeline":
        return _pipeline_facts(notification.event, state, notification.preference, notification.when, ui_url)
    if family == "judgment":
        return _judgment_facts(notification, state, ui_url)
    return _stage_facts(notification, state, ui_url)


def _pipeline_facts(event: EchoEvent, state: str, preference: dict, when: str, ui_url: str) -> MessageFacts:
    execution = event.execution
    application = _application(event)
    name = str(execution.get("name") or execution.get("description") or "pipeline")
    orchestration = event.type_parts[1] == "orchestration" or execution.get("type") == "ORCHESTRATION"
    url = execution_link(ui_url, application, str(event.execution_id or ""), orchestration=orchestration)
    emoji, word, sentence = PIPELINE_WORDS[state]
    noun = "task" if orchestration else "pipeline"
    facts = [("Application", escape(application)), ("Status", escape(execution.get("status") or state.upper()))]
    facts += _trigger_facts(execution)
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
    summary = f"*{link(url, name)}* in *{escape(application)}* {word}"
    return MessageFacts(
        fallback=f"{application.title()}'s {name} {noun} {sentence}",
        headline=f"{emoji} {name} {word}",
        summary=_custom_body(preference, event, url) or summary,
        facts=tuple(facts), detail=detail, custom=_custom_text(preference, when), link=url,
        footer=f"{noun.title()} execution `{escape(event.execution_id or '?')}`",
    )


def _stage_facts(notification: Notification, state: str, ui_url: str) -> MessageFacts:
    event = notification.event
    stage = stage_by_id(event.execution, event.content.get("stageId"))
    application = _application(event)
    name = str(event.content.get("name") or stage.get("name") or "stage")
    pipeline = str(event.execution.get("name") or "pipeline")
    url = execution_link(ui_url, application, str(event.execution_id or ""), stage_ref=stage.get("refId"))
    word = STAGE_WORDS.get(state, state)
    elapsed = format_duration(duration_ms(event.content.get("startTime"), event.content.get("endTime")))
    summary = f"Stage *{link(url, name)}* {word}" + (f" after {elapsed}" if elapsed else "")
    detail = None
    if state == "failed":
        error = stage_error(stage) or stage_error({"context": event.content.get("context")})
        detail = f"*Error:* {escape(error)}" if error else None
    return MessageFacts(
        fallback=f"Stage {name} for {application.title()}'s {pipeline} pipeline {word}",
        summary=_custom_body(notification.preference, event, url, stage) or summary,
        detail=detail, custom=_custom_text(notification.preference, notification.when),
    )


def _judgment_facts(notification: Notification, state: str, ui_url: str) -> MessageFacts:
    event = notification.event
    stage = stage_by_id(event.execution, event.content.get("stageId"))
    context = event.content.get("context") if isinstance(event.content.get("context"), dict) else {}
    application = _application(event)
    name = str(event.content.get("name") or stage.get("name") or "Manual Judgment")
    pipeline = str(event.execution.get("name") or "pipeline")
    url = execution_link(ui_url, application, str(event.execution_id or ""), stage_ref=stage.get("refId"))
    run = f"*{link(execution_link(ui_url, application, str(event.execution_id or '')), pipeline)}*"
    facts: list[tuple[str, str]] = [("Application", escape(application))] + _trigger_facts(event.execution)
    detail = None
    if state == "awaiting":
        headline = f":hourglass_flowing_sand: Judgment needed: {name}"
        summary = f"{run} in *{escape(application)}* is waiting for a decision at stage *{link(url, name)}*"
        fallback = f"Stage {name} for {application.title()}'s {pipeline} pipeline is awaiting manual judgment"
        options = judgment_options(context)
        if options:
            facts.append(("Options", escape(", ".join(options))))
        facts.append(("Deadline", _deadline(event.content.get("startTime"), context)))
        if context.get("instructions"):
            detail = "*Instructions*\n" + html_to_mrkdwn(context["instructions"])
    else:
        decision = "continue" if state == "continued" else "stop"
        judge = context.get("lastModifiedBy") or (stage.get("lastModified") or {}).get("user") or "someone"
        headline = f"{':white_check_mark:' if decision == 'continue' else ':octagonal_sign:'} " \
                   f"{name}: judged to {decision}"
        summary = f"Stage *{link(url, name)}* of {run} was judged to *{decision}* by {escape(judge)}"
        fallback = f"Stage {name} for {application.title()}'s {pipeline} pipeline was judged to {decision} by {judge}"
        if context.get("judgmentInput"):
            facts.append(("Choice", escape(context["judgmentInput"])))
    return MessageFacts(
        fallback=fallback, headline=headline,
        summary=_custom_body(notification.preference, event, url, stage) or summary,
        facts=tuple(facts), detail=detail, custom=_custom_text(notification.preference, notification.when),
        link=url, link_label="Open stage in Spinnaker",
        footer=f"Pipeline execution `{escape(event.execution_id or '?')}`",
    )


def judgment_options(context: dict) -> list[str]:
    """The stage's `judgmentInputs` values, in order."""
    inputs = context.get("judgmentInputs")
    if not isinstance(inputs, list):
        return []
    return [str(i["value"]) for i in inputs if isinstance(i, dict) and i.get("value") not in (None, "")]


def _deadline(start: Any, context: dict) -> str:
    timeout = context.get("stageTimeoutMs") if context.get("overrideTimeout") else None
    timeout = timeout if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_JUDGMENT_TIMEOUT_MS
    base = start if isinstance(start, int | float) and start > 0 else time.time() * 1000
    return date(base + timeout)


def _trigger_facts(execution: dict) -> list[tuple[str, str]]:
    label, url = trigger_fact(execution)
    return [("Trigger", link(url, label))]


def _failure_detail(execution: dict, application: str, event: EchoEvent, ui_url: str) -> str | None:
    stage = failing_stage(execution)
    if not stage:
        return None
    url = execution_link(ui_url, application, str(event.execution_id or ""), stage_ref=stage.get("refId"))
    error = stage_error(stage)
    text = f"*Failed stage:* {link(url, stage.get('name') or 'stage')}"
    return text + (f"\n*Error:* {escape(error)}" if error else "")


def _custom_text(preference: dict, when: str) -> str | None:
    """Deck's per-`when` text: `message["<when>"].text`, appended below the message."""
    messages = preference.get("message")
    entry = messages.get(when) if isinstance(messages, dict) else None
    text = entry.get("text") if isinstance(entry, dict) else None
    return safe_custom_text(text) if text else None


def _custom_body(preference: dict, event: EchoEvent, url: str, stage: dict | None = None) -> str | None:
    """`customMessage` (preference, or the stage context) replaces the body; {{executionId}} and {{link}}."""
    context = event.content.get("context") if isinstance(event.content.get("context"), dict) else {}
    template = preference.get("customMessage") or (context.get("customMessage") if stage is not None else None)
    if not isinstance(template, str) or not template:
        return None
    body = safe_custom_text(template)
    return body.replace("{{executionId}}", escape(event.execution_id or "")).replace("{{link}}", escape(url))


def _application(event: EchoEvent) -> str:
    return str(event.application or event.execution.get("application") or "unknown")
