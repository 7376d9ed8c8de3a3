"""What happens next to a judgment clicked in Slack, decided from its record and Spinnaker's reading of the
stage, with no I/O: the decision table that relay/judgments/resolve.py carries out.

A judgment moves received -> claimed -> patching -> patched -> decided (or one of the endings below). Each
step is decided afresh on every run of its job, from the record and a fresh GET of the execution, so a job
that runs twice, or resumes after a crash, takes the same road.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.judgments.blocks import button_labels, judgment_choices
from relay.spinnaker.judgment_stage import CONTINUED, JUDGING, STOPPED, JudgmentState
from relay.store import CLAIMED, PATCHED, PATCHING, RECEIVED, Judgment

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
