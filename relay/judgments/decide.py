"""What happens next to a judgment clicked in Slack, decided from its record and Spinnaker's reading of the
stage, with no I/O: the decision table that relay/judgments/resolve.py carries out; and what a waiting
judgment's timer does when it wakes (remind, escalate, expire, stop), which relay/judgments/timers.py
carries out.

A judgment moves received -> claimed -> patching -> patched -> decided (or one of the endings below). Each
step is decided afresh on every run of its job, from the record and a fresh GET of the execution, so a job
that runs twice, or resumes after a crash, takes the same road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from relay.judgments.blocks import button_labels, judgment_choices
from relay.spinnaker.judgment_stage import (
    AWAITING,
    CANCELED,
    CONTINUED,
    JUDGING,
    NOT_STARTED,
    STOPPED,
    TIMED_OUT,
    JudgmentState,
)
from relay.store import CLAIMED, PATCHED, PATCHING, RECEIVED, Judgment, Timer

POLL_SECONDS = 60.0  # how long to watch for Orca to act on a judgment Gate accepted
MAX_POLL_DELAY = 15.0  # Orca's Manual Judgment task looks every 15 s at the most

# What the runner does next.
STALE = "stale"            # the stage was not waiting when the click was checked
REFUSE = "refuse"          # the click cannot be applied as it stands (an option is missing or unknown)
AUTHORIZE = "authorize"    # the click may go ahead if the clicker may judge: ask, then take the claim
PATCH = "patch"            # this judgment holds the claim and the stage waits: send the PATCH
CONFIRM = "confirm"        # a PATCH whose answer was lost shows in the stage: count it as sent
UNSEND = "unsend"          # a PATCH whose answer was lost does not show: go back to claimed, and decide again
OVERTAKEN = "overtaken"    # the stage stopped waiting while this judgment held the claim
DECIDED = "decided"        # Spinnaker acted on the judgment as asked
WAIT = "wait"              # Gate took the judgment and Orca has not acted yet: look again later
UNCONFIRMED = "unconfirmed"  # Orca has not acted after POLL_SECONDS: stop watching, say so
RESET = "reset"            # Orca put the judgment back (it checks roles against the relay's identity)
EXPIRED = "expired"        # the click came after the stage's deadline: nothing is sent to Gate

# How a judgment's wait ended (a timer's outcome).
ENDED_CONTINUED, ENDED_STOPPED, ENDED_EXPIRED, ENDED_CANCELED, ENDED_OTHERWISE = (
    "continued", "stopped", "expired", "canceled", "ended")
RECHECK_SECONDS = 60.0  # how soon a timer looks again at a stage that is being judged or not started yet
DM_RETRY_SECONDS = 300.0  # how soon escalation's direct messages are tried again after a failed look-up


@dataclass(frozen=True)
class Step:
    """The next step, with why (for a refusal) or how long to wait (for WAIT)."""

    kind: str
    reason: str | None = None
    delay: float | None = None


def decide(judgment: Judgment, reading: JudgmentState, *, now: float) -> Step:
    """The next step for `judgment` given `reading`, the stage as Spinnaker shows it now."""
    if judgment.status == RECEIVED:
        return _received(judgment, reading)
    if judgment.status == PATCHED:
        return _patched(judgment, reading, now=now)
    if judgment.status == PATCHING:
        return Step(CONFIRM if asks_same(judgment, reading) or done_as_asked(judgment, reading) else UNSEND)
    if judgment.status == CLAIMED:
        return Step(PATCH if reading.open else OVERTAKEN)
    raise ValueError(f"judgment {judgment.id} is {judgment.status}: nothing is left to decide")


def first_look(judgment: Judgment, *, deadline: float | None, now: float) -> Step | None:
    """Before asking Gate: a click that arrives once the stage's deadline has passed expires, with no Gate
    call at all; None when Gate must be read."""
    if judgment.status == RECEIVED and deadline is not None and now >= deadline:
        return Step(EXPIRED)
    return None


@dataclass(frozen=True)
class Tick:
    """What a judgment timer does when it wakes: end the wait (`outcome`, and `judge` only when Spinnaker
    names one), or remind `remind` (addresses) and escalate, then wake again at `next_at`."""

    outcome: str | None = None
    judge: str | None = None
    remind: tuple[str, ...] = ()
    escalate: bool = False
    retry_dms: bool = False
    reminded: dict[str, int] | None = None
    next_at: float | None = None


def tick(timer: Timer, reading: JudgmentState | None, *, now: float, claimed: bool = False) -> Tick:
    """The timer's next move. `reading` is the stage as Spinnaker shows it now (None when the relay cannot
    read it); `claimed`: a click from Slack is being carried out. Only a stage Spinnaker shows as judged ends
    as continued or stopped; reminders due while the relay was down collapse into one."""
    state = reading.state if reading is not None else AWAITING
    if reading is not None and reading.decided:
        return Tick(outcome=ENDED_CONTINUED if state == CONTINUED else ENDED_STOPPED, judge=reading.judge)
    if state == TIMED_OUT:
        return Tick(outcome=ENDED_EXPIRED)
    if state not in (AWAITING, JUDGING, NOT_STARTED):
        return Tick(outcome=ENDED_CANCELED if state == CANCELED else ENDED_OTHERWISE)
    if now >= timer.deadline:
        return Tick(outcome=ENDED_EXPIRED)
    if state != AWAITING or claimed:
        return Tick(next_at=min(timer.deadline, now + RECHECK_SECONDS))
    every = {address: float(seconds) for address, seconds in timer.plan.get("every", {}).items() if seconds}
    due = {address: math.floor((now - timer.started_at) / seconds) for address, seconds in every.items()}
    remind = tuple(sorted(a for a, count in due.items() if count > timer.reminded.get(a, 0)))
    reminded = {**timer.reminded, **{a: due[a] for a in remind}}
    after = timer.plan.get("escalate_after")
    escalate_at = timer.started_at + after if after else None
    escalate = escalate_at is not None and not timer.escalated and now >= escalate_at
    retry_dms = timer.dms_pending and not escalate  # each wake tries the failed direct messages again
    wakes = [timer.deadline] + [timer.started_at + (reminded.get(a, 0) + 1) * s for a, s in every.items()]
    if escalate_at is not None and not (timer.escalated or escalate):
        wakes.append(escalate_at)
    if timer.dms_pending or escalate:
        wakes.append(now + DM_RETRY_SECONDS)
    return Tick(remind=remind, escalate=escalate, retry_dms=retry_dms, reminded=reminded, next_at=min(wakes))


def asks_same(judgment: Judgment, reading: JudgmentState) -> bool:
    """The stage holds this judgment's decision, not yet acted on."""
    context = reading.stage.get("context") if isinstance(reading.stage.get("context"), dict) else {}
    return str(context.get("judgmentStatus") or "").lower() == judgment.decision


def done_as_asked(judgment: Judgment, reading: JudgmentState) -> bool:
    """Spinnaker finished the stage the way this judgment asked."""
    return reading.state == (CONTINUED if judgment.decision == "continue" else STOPPED)


def _received(judgment: Judgment, reading: JudgmentState) -> Step:
    if not reading.open:
        return Step(STALE)
    choices = judgment_choices(reading.stage)
    if judgment.decision == "continue" and choices and judgment.input_index is None:
        approve, _ = button_labels(reading.stage)
        return Step(REFUSE, reason=f"pick one of the options first ({', '.join(choices)}), then {approve}")
    if judgment.input_index is not None and judgment.input_index >= len(choices):
        return Step(REFUSE, reason="the option you picked is not one this stage offers")
    return Step(AUTHORIZE)


def _patched(judgment: Judgment, reading: JudgmentState, *, now: float) -> Step:
    if done_as_asked(judgment, reading):
        return Step(DECIDED)
    if reading.state == JUDGING and asks_same(judgment, reading):
        waited = now - (judgment.patched_at or now)
        if waited >= POLL_SECONDS:
            return Step(UNCONFIRMED)
        return Step(WAIT, delay=min(MAX_POLL_DELAY, max(1.0, waited)))
    return Step(RESET if reading.open else OVERTAKEN)
