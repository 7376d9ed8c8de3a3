"""What Manual Judgment messages say: awaiting (with buttons), being sent, decided from Slack, or what
Spinnaker reports happened instead; plus the thread reply, the direct message and the notes to a clicker."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from relay.judgments.blocks import button_labels, judgment_actions, judgment_choices
from relay.models import MessageFacts, Notification
from relay.spinnaker.deck_text import custom_body, custom_text, trigger_facts
from relay.spinnaker.deployed import deployed_lines
from relay.spinnaker.execution import (
    duration_ms,
    execution_link,
    format_duration,
    stage_by_id,
    with_event_stage,
)
from relay.spinnaker.judgment_stage import (
    AWAITING,
    CANCELED,
    CONTINUED,
    JUDGING,
    MISSING,
    STOPPED,
    TIMED_OUT,
    JudgmentState,
    judgment_state,
    required_roles,
    span,
    timeout_ms,
)
from relay.store import DECIDED, IN_FLIGHT, UNCONFIRMED, Judgment
from schemas.messages import MESSAGE_SCHEMA
from schemas.mrkdwn import escape, html_to_mrkdwn, link, slack_date

ENDED_WORDS = {
    TIMED_OUT: (":alarm_clock:", "expired", "expired after {timeout} without a decision"),
    CANCELED: (":no_entry_sign:", "run canceled", "stopped waiting: the run was canceled"),
    MISSING: (":grey_question:", "not found", "is no longer a Manual Judgment waiting in this run"),
}


def judgment_message(execution: dict[str, Any], stage_id: str, ui_url: str, *, channel: str,
                     preference: dict[str, Any] | None = None, judgment: Judgment | None = None,
                     note: str | None = None, reading: JudgmentState | None = None,
                     waited: float | None = None, change: str | None = None) -> dict[str, Any]:
    """The whole message (`text`, `blocks`) for a judgment as `execution` and `judgment` show it now, with
    the run's `change` line (from → to) when it is known."""
    return MESSAGE_SCHEMA.dump(judgment_facts(execution, stage_id, ui_url, channel=channel,
                                              preference=preference, judgment=judgment, note=note,
                                              reading=reading, waited=waited, change=change))


def notification_facts(notification: Notification, state: str, ui_url: str, *,
                       judgment: Judgment | None = None) -> MessageFacts:
    """A judgment notification from an Echo stage event (templates `judgment.awaiting|continued|stopped`);
    `judgment` is the Slack judgment that decided the stage, if one did."""
    event = notification.event
    stage_id = str(event.content.get("stageId") or "")
    execution = with_event_stage(event.execution, stage_id, event.content)
    reading = judgment_state(execution, stage_id)
    forced = {"continued": CONTINUED, "stopped": STOPPED}.get(state)
    if forced and reading.state != forced:  # the event's execution snapshot can lag behind the stage event
        reading = dataclasses.replace(reading, state=forced)
    if state == "awaiting" and not reading.open:
        reading = JudgmentState(AWAITING, reading.stage)
    return judgment_facts(execution, stage_id, ui_url, channel=notification.address, judgment=judgment,
                          preference=notification.preference, when=notification.when, reading=reading)


def judgment_facts(execution: dict[str, Any], stage_id: str, ui_url: str, *, channel: str,
                   preference: dict[str, Any] | None = None, when: str = "manualJudgment",
                   judgment: Judgment | None = None, note: str | None = None,
                   reading: JudgmentState | None = None, waited: float | None = None,
                   change: str | None = None) -> MessageFacts:
    """MessageFacts for one judgment message. A Slack judgment in flight or confirmed by Spinnaker is shown
    with who, when, what and why; otherwise Spinnaker's own state decides, and only an awaiting stage
    gets buttons."""
    reading = reading or judgment_state(execution, stage_id)
    parts = _Parts(execution, reading.stage, ui_url, change=change)
    if judgment is not None and _slack_judgment_shows(judgment, reading):
        return MessageFacts(**_slack_facts(parts, judgment, reading))
    if reading.open:
        return MessageFacts(**_awaiting_facts(parts, channel, preference or {}, when, note, waited))
    return MessageFacts(**_overtaken_facts(parts, reading), custom=custom_text(preference or {}, when))


def judgment_report(execution: dict[str, Any], stage_id: str, ui_url: str,
                    judgment: Judgment) -> dict[str, Any]:
    """The thread reply telling the channel what was decided from Slack."""
    parts = _Parts(execution, stage_by_id(execution, stage_id), ui_url)
    emoji, verb = _decision_words(judgment)
    text = f"{emoji} <@{judgment.user_id}> {verb} {parts.stage_link}{_choice(judgment)}{_reason(judgment)}"
    fallback = escape(f"{parts.name} was {verb} from Slack")
    return MESSAGE_SCHEMA.dump(MessageFacts(fallback=fallback, summary=text))


def judgment_direct_message(execution: dict[str, Any], stage_id: str, ui_url: str,
                            judgment: Judgment) -> dict[str, Any]:
    """The direct message to the person who started the run."""
    parts = _Parts(execution, stage_by_id(execution, stage_id), ui_url)
    _, verb = _decision_words(judgment)
    text = (f"Your run of {parts.run} in *{escape(parts.application)}*: <@{judgment.user_id}> {verb} stage "
            f"{parts.stage_link}{_choice(judgment)}.{_reason(judgment)}")
    return MESSAGE_SCHEMA.dump(MessageFacts(
        fallback=escape(f"{parts.name} in your run of {parts.pipeline} was {verb}"), summary=text,
        link=parts.url,
        link_label="Open in Spinnaker"))


def notice(text: str) -> dict[str, Any]:
    """A short note for one person (an ephemeral message)."""
    return {"text": text}


def decision_label(stage: dict[str, Any], decision: str) -> str:
    """The button label the judge chose: Approve/Reject or the stage's own labels."""
    approve, reject = button_labels(stage)
    return approve if decision == "continue" else reject


class _Parts:
    """The pieces every judgment message uses: names as they are (for plain text), links as mrkdwn."""

    def __init__(self, execution: dict[str, Any], stage: dict[str, Any], ui_url: str, *,
                 change: str | None = None) -> None:
        self.execution = execution
        self.change = change
        self.stage = stage
        self.execution_id = str(execution.get("id") or "")
        self.context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
        self.application = str(execution.get("application") or "unknown")
        self.name = str(stage.get("name") or "Manual Judgment")
        self.pipeline = str(execution.get("name") or "pipeline")
        self.url = execution_link(ui_url, self.application, self.execution_id, stage_ref=stage.get("refId"))
        self.run = f"*{link(execution_link(ui_url, self.application, self.execution_id), self.pipeline)}*"
        self.stage_link = f"*{link(self.url, self.name)}*"

    def base(self, **facts: Any) -> dict[str, Any]:
        facts.setdefault("facts", tuple(self.common_facts()))
        facts["fallback"] = escape(facts["fallback"])  # Slack parses the notification text as mrkdwn too
        if self.change:
            facts["deployed"] = (self.change, *facts.get("deployed", ()))
        return {"link": self.url, "link_label": "Open stage in Spinnaker",
                "footer": f"Pipeline execution `{escape(self.execution_id or '?')}`", **facts}

    def common_facts(self) -> list[tuple[str, str]]:
        return [("Application", escape(self.application))] + trigger_facts(self.execution)


def _slack_judgment_shows(judgment: Judgment, reading: JudgmentState) -> bool:
    """A Slack judgment speaks for the stage while it is in flight, and once Spinnaker did as it asked."""
    if judgment.status in IN_FLIGHT or judgment.status == UNCONFIRMED:
        return reading.state in (AWAITING, JUDGING) or _matches(judgment, reading)
    return judgment.status == DECIDED and _matches(judgment, reading)


def _matches(judgment: Judgment, reading: JudgmentState) -> bool:
    return reading.state == (CONTINUED if judgment.decision == "continue" else STOPPED)


def _awaiting_facts(parts: _Parts, channel: str, preference: dict[str, Any], when: str,
                    note: str | None, waited: float | None) -> dict[str, Any]:
    facts = parts.common_facts()
    choices = judgment_choices(parts.stage)
    if choices:
        facts.append(("Options", escape(", ".join(choices))))
    if waited:
        facts.append(("Waiting for", span(waited)))
    facts.append(("Deadline", _deadline(parts.stage.get("startTime"), parts.context)))
    roles = required_roles(parts.stage)
    if roles:
        facts.append(("Required roles", escape(", ".join(roles))))
    detail = [f"*Instructions*\n{html_to_mrkdwn(parts.context['instructions'])}"] \
        if parts.context.get("instructions") else []
    detail += [note] if note else []
    summary = f"{parts.run} in *{escape(parts.application)}* waits for a decision at stage {parts.stage_link}"
    return parts.base(
        fallback=f"Stage {parts.name} for {parts.application.title()}'s {parts.pipeline} pipeline is "
                 f"awaiting manual judgment",
        headline=f":hourglass_flowing_sand: Judgment needed: {parts.name}",
        summary=custom_body(preference, parts.execution_id, parts.url, parts.context) or summary,
        facts=tuple(facts), deployed=tuple(deployed_lines(parts.execution)),
        detail="\n\n".join(detail) or None, custom=custom_text(preference, when),
        actions=judgment_actions(parts.execution, str(parts.stage.get("id")), channel=channel))


def _slack_facts(parts: _Parts, judgment: Judgment, reading: JudgmentState) -> dict[str, Any]:
    label = decision_label(parts.stage, judgment.decision)
    who = f"<@{judgment.user_id}>"
    when = slack_date(judgment.claimed_at or judgment.received_at)
    facts = parts.common_facts() + [("Decision", escape(label))]
    if judgment.judgment_input:
        facts.append(("Choice", escape(judgment.judgment_input)))
    if judgment.reason:
        facts.append(("Reason", escape(judgment.reason)))
    if _matches(judgment, reading):
        emoji, verb = _decision_words(judgment)
        if judgment.gate_user:
            facts.append(("Recorded in Spinnaker as", escape(judgment.gate_user)))
        return parts.base(
            fallback=f"{parts.name} was {verb} by {judgment.user_email or judgment.user_id} from Slack",
            headline=f"{emoji} {parts.name}: {verb}",
            summary=f"{who} {verb} stage {parts.stage_link} of {parts.run} from Slack, {when}",
            facts=tuple(facts))
    waiting = "Spinnaker has not acted on it yet; this message changes when it does" \
        if judgment.status == UNCONFIRMED else "sending it to Spinnaker"
    return parts.base(
        fallback=f"{parts.name}: {label} chosen in Slack, {waiting}",
        headline=f":arrows_counterclockwise: {parts.name}: {label} chosen",
        summary=f"{who} chose *{escape(label)}* for stage {parts.stage_link} of {parts.run}, {when}: "
                f"{waiting}",
        facts=tuple(facts))


def _overtaken_facts(parts: _Parts, reading: JudgmentState) -> dict[str, Any]:
    """The stage was judged in Spinnaker, or stopped waiting: say what happened, offer no buttons."""
    facts = parts.common_facts()
    if reading.judgment_input:
        facts.append(("Choice", escape(reading.judgment_input)))
    judge = escape(reading.judge or "someone")
    if reading.state in (CONTINUED, STOPPED):
        waited = format_duration(duration_ms(parts.stage.get("startTime"), parts.stage.get("endTime")))
        facts += [("Waited", waited)] if waited else []
        word = "continue" if reading.state == CONTINUED else "stop"
        emoji = ":white_check_mark:" if word == "continue" else ":octagonal_sign:"
        return parts.base(
            fallback=f"Stage {parts.name} of {parts.pipeline} was judged to {word} by "
                     f"{reading.judge or 'someone'}",
            headline=f"{emoji} {parts.name}: judged to {word}",
            summary=f"Stage {parts.stage_link} of {parts.run} was judged to *{word}* by {judge} in Spinnaker",
            facts=tuple(facts))
    if reading.state == JUDGING:
        return parts.base(
            fallback=f"Stage {parts.name} of {parts.pipeline} is being judged in Spinnaker",
            headline=f":arrows_counterclockwise: {parts.name}: being judged",
            summary=f"{judge} judged stage {parts.stage_link} of {parts.run} in Spinnaker; waiting for it to "
                    f"take effect", facts=tuple(facts))
    emoji, short, sentence = ENDED_WORDS.get(
        reading.state, (":grey_question:", "no longer waiting",
                        f"ended without a judgment ({reading.stage_status or 'unknown status'})"))
    if reading.state == TIMED_OUT:
        sentence = sentence.replace("{timeout}", span(timeout_ms(parts.context) / 1000))
        short = sentence[0].upper() + sentence[1:]
    detail = None
    who, why = parts.execution.get("canceledBy"), parts.execution.get("cancellationReason")
    if reading.state == CANCELED and who:
        detail = f"*Canceled by* {escape(who)}" + (f": {escape(why)}" if why else "")
    return parts.base(
        fallback=f"Stage {parts.name} of {parts.pipeline} {sentence}",
        headline=f"{emoji} {parts.name}: {short}",
        summary=f"Stage {parts.stage_link} of {parts.run} {escape(sentence)}", facts=tuple(facts),
        detail=detail)


def _decision_words(judgment: Judgment) -> tuple[str, str]:
    """The emoji and the past-tense verb of a Slack judgment's decision."""
    if judgment.decision == "continue":
        return ":white_check_mark:", "approved"
    return ":octagonal_sign:", "rejected"


def _choice(judgment: Judgment) -> str:
    return f" with “{escape(judgment.judgment_input)}”" if judgment.judgment_input else ""


def _reason(judgment: Judgment) -> str:
    return f"\n*Reason:* {escape(judgment.reason)}" if judgment.reason else ""


def _deadline(start: Any, context: dict[str, Any]) -> str:
    base = start if isinstance(start, int | float) and start > 0 else time.time() * 1000
    return slack_date((base + timeout_ms(context)) / 1000)
