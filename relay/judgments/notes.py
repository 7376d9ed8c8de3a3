"""What the relay tells people about a judgment it could not simply carry out: the clicker's private notes
and the lines added to the judgment's message. Every text from outside is escaped here."""

from __future__ import annotations

from typing import Any

from relay.clients.gate import GateError
from relay.judgments.messages import decision_label
from relay.rules.policy import Verdict
from relay.spinnaker.judgment_stage import (
    CANCELED,
    CONTINUED,
    JUDGING,
    MISSING,
    NOT_STARTED,
    STOPPED,
    TIMED_OUT,
    JudgmentState,
    required_roles,
    span,
)
from relay.store import Judgment
from schemas.mrkdwn import escape, slack_date


def describe(reading: JudgmentState) -> str:
    """What happened to a stage that is not waiting for a judgment, for the person who clicked."""
    judge = escape(reading.judge or "someone")
    return {
        CONTINUED: f"it was already judged to continue by {judge}",
        STOPPED: f"it was already judged to stop by {judge}",
        JUDGING: f"{judge} is already judging it in Spinnaker",
        TIMED_OUT: "the stage timed out waiting for a judgment",
        CANCELED: "the run was canceled",
        MISSING: "Spinnaker has no Manual Judgment stage with that id in this run",
        NOT_STARTED: "the stage has not started yet",
    }.get(reading.state, f"the stage ended ({escape(reading.stage_status or 'unknown status')})")


def already(holder: Judgment, stage: dict[str, Any]) -> str:
    """Who decided first, what, and when."""
    when = slack_date(holder.claimed_at or holder.received_at)
    return f"<@{holder.user_id}> already chose *{escape(decision_label(stage, holder.decision))}* {when}"


def refusal(verdict: Verdict) -> str:
    """Why a click was refused; a refusal for want of a fact says that clicking again may work."""
    if verdict.unknown:
        opening = ":warning: Nothing was decided, because the relay could not check that you may judge it"
    else:
        opening = ":no_entry: You cannot judge this from Slack"
    return f"{opening}: {escape(verdict.reason)}."


def reset_reason(judgment: Judgment, reading: JudgmentState) -> str:
    """Why Orca put a judgment back: someone changed it, or the stage's roles were checked against the
    relay's own identity."""
    roles = ", ".join(required_roles(reading.stage))
    identity = escape(judgment.gate_user or "the relay's Spinnaker identity")
    if judgment.gate_user is not None and reading.judge != judgment.gate_user:
        return f"{escape(reading.judge or 'someone')} changed it in Spinnaker after the relay sent it"
    if roles:
        return (f"it checks the stage's required roles ({escape(roles)}) against {identity}, the identity "
                f"the relay uses in Spinnaker, and put the judgment back")
    return "it put the judgment back without acting on it"


def gate_refusal(err: GateError, judgment: Judgment, execution: dict[str, Any] | None, *,
                 sending: bool) -> str:
    """Why Gate's final answer (403, 404, another refusal) means nothing was decided."""
    application = escape(judgment.application or (execution or {}).get("application") or "this application")
    if err.status == 404:
        return f"Spinnaker has no run {escape(judgment.execution_id)} any more (Gate answered 404)"
    if err.status == 403 and sending:
        return (f"Gate answered 403: the identity the relay uses in Spinnaker may not run {application}'s "
                f"pipelines (it needs EXECUTE on {application})")
    if err.status == 403:
        return (f"the relay may not read this run in Spinnaker (Gate answered 403 or nothing at all): its "
                f"Spinnaker identity needs READ on {application}")
    return f"Spinnaker refused the judgment: {escape(str(err))}"


def unconfirmed(label: str) -> str:
    return (f"Spinnaker took your {escape(label)} but has not acted on it after a minute; the message will "
            f"change when it does.")


def not_accepted(label: str, why: str) -> str:
    return f":warning: Spinnaker did not accept your {escape(label)}: {why}. Nothing was decided, and the " \
           f"buttons are back."


def not_accepted_line(user_id: str, label: str, why: str) -> str:
    """The line added to the judgment's message when Orca put the judgment back."""
    return f":warning: <@{user_id}>'s {escape(label)} was not accepted by Spinnaker: {why}."


def not_applied(label: str, what: str) -> str:
    return f"Your {escape(label)} was not applied: {what}."


def nothing_to_do(what: str) -> str:
    return f"Nothing to do: {what}."


def too_late(what: str) -> str:
    return f"Too late: {what}."


def did_not_go_through(why: str) -> str:
    return f":warning: Nothing was decided: {why}."


def did_not_go_through_line(user_id: str, label: str, why: str) -> str:
    """The line added to the judgment's message when Gate could not take the judgment."""
    return f":warning: <@{user_id}>'s {escape(label)} did not go through: {why}."


def reminder(waited: float, deadline: float) -> str:
    """The thread reply that reminds a channel of a judgment still waiting; it mentions nobody."""
    return f":hourglass: Still waiting: {span(waited)}; expires {slack_date(deadline)}."


def escalation(targets: tuple[str, ...], waited: float, deadline: float) -> str:
    """The thread reply, shown in the channel, that calls the escalation's people to the judgment."""
    mentions = " ".join(f"<!subteam^{t}>" if t.startswith("S") else f"<@{t}>" for t in targets)
    return (f":rotating_light: {mentions}: this judgment has waited {span(waited)} for a decision; it "
            f"expires {slack_date(deadline)}.")


def expired(deadline: float) -> str:
    """The private note to someone who clicked once the stage's deadline had passed."""
    return f":alarm_clock: Nothing was decided: this judgment expired at {slack_date(deadline)}."
