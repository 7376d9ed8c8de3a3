"""Where a Manual Judgment stands, read from an Orca execution: awaiting, being acted on, judged, or not
waiting any more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.models import EchoEvent
from relay.spinnaker.execution import dig, stage_by_id

AWAITING = "awaiting"      # RUNNING, no judgment yet: the only state in which the relay may PATCH
JUDGING = "judging"        # RUNNING with a judgment Orca has not acted on yet
CONTINUED = "continued"    # judged to continue
STOPPED = "stopped"        # judged to stop
TIMED_OUT = "timed_out"    # the stage's timeout passed without a judgment
ENDED = "ended"            # finished without a judgment for another reason (failed, skipped, stopped)
CANCELED = "canceled"      # the run was canceled (or ended elsewhere) while the stage waited
NOT_STARTED = "not_started"  # a PATCH now would pre-approve a stage nobody has seen yet
MISSING = "missing"        # no Manual Judgment stage with that id in the execution

FINISHED = frozenset({"SUCCEEDED", "TERMINAL", "CANCELED", "STOPPED", "SKIPPED", "FAILED_CONTINUE"})
DEFAULT_TIMEOUT_MS = 3 * 24 * 3600 * 1000


@dataclass(frozen=True)
class JudgmentState:
    """One stage's judgment: its state, and who judged what when Spinnaker says so."""

    state: str
    stage: dict[str, Any]
    judge: str | None = None
    judgment_input: str | None = None
    stage_status: str | None = None

    @property
    def open(self) -> bool:
        return self.state == AWAITING

    @property
    def decided(self) -> bool:
        return self.state in (CONTINUED, STOPPED)


def judgment_state(execution: dict[str, Any], stage_id: str) -> JudgmentState:
    """Read the stage `stage_id` (the stage's `id`, not its refId) of `execution`."""
    stage = stage_by_id(execution, stage_id)
    if stage.get("type") != "manualJudgment":
        return JudgmentState(MISSING, stage)
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    status = str(stage.get("status") or "")
    verdict = str(context.get("judgmentStatus") or "").lower()
    judge = context.get("lastModifiedBy") or dig(stage, "lastModified", "user")
    choice = context.get("judgmentInput")
    facts = {"stage": stage, "judge": judge, "judgment_input": choice, "stage_status": status}
    if status == "NOT_STARTED":
        return JudgmentState(NOT_STARTED, stage, stage_status=status)
    if status in ("RUNNING", "PAUSED") and str(execution.get("status")) not in FINISHED:
        return JudgmentState(JUDGING if verdict in ("continue", "stop") else AWAITING, **facts)
    if verdict == "continue" and status == "SUCCEEDED":
        return JudgmentState(CONTINUED, **facts)
    if verdict == "stop" and status in ("TERMINAL", "STOPPED", "FAILED_CONTINUE"):
        return JudgmentState(STOPPED, **facts)
    if status == "CANCELED" or execution.get("status") == "CANCELED" or status in ("RUNNING", "PAUSED"):
        return JudgmentState(CANCELED, stage, stage_status=status)
    if status in ("TERMINAL", "FAILED_CONTINUE", "STOPPED") and _timed_out(stage, context):
        return JudgmentState(TIMED_OUT, stage, stage_status=status)
    return JudgmentState(ENDED, stage, stage_status=status)


def required_roles(stage: dict[str, Any]) -> tuple[str, ...]:
    """The roles Orca requires of the judge: `requiredJudgmentRoles`, else `selectedStageRoles`."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    roles = context.get("requiredJudgmentRoles") or context.get("selectedStageRoles") or []
    return tuple(str(role) for role in roles) if isinstance(roles, list) else ()


def timeout_ms(context: dict[str, Any]) -> float:
    """The stage's timeout as Orca reads it: a numeric `stageTimeoutMs` replaces the Manual Judgment task's
    three days whether or not `overrideTimeout` (a flag only Deck's editor reads) is set."""
    timeout = context.get("stageTimeoutMs")
    numeric = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    return timeout if numeric and timeout > 0 else DEFAULT_TIMEOUT_MS


def deadline(stage: dict[str, Any]) -> float | None:
    """When the stage times out (epoch seconds): its timeout counted from its start; None before it starts."""
    start = stage.get("startTime")
    if not isinstance(start, int | float) or isinstance(start, bool) or start <= 0:
        return None
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    return (start + timeout_ms(context)) / 1000


def span(seconds: float) -> str:
    """A wait in words people read at a glance: `72 h`, `1 h 30 m`, `45 m`, `20 s`."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    return f"{minutes} m" if minutes else f"{seconds} s"


def _timed_out(stage: dict[str, Any], context: dict[str, Any]) -> bool:
    start, end = stage.get("startTime"), stage.get("endTime")
    if isinstance(start, int | float) and isinstance(end, int | float) and end - start >= timeout_ms(context):
        return True
    exception = context.get("exception") if isinstance(context.get("exception"), dict) else {}
    return "timed out" in str(exception.get("details") or "").lower()


def is_judgment_stage(event: EchoEvent) -> bool:
    """Stage context carries no type, so look the stage up in the execution by its id."""
    stage = stage_by_id(event.execution, event.content.get("stageId"))
    if stage:
        return stage.get("type") == "manualJudgment"
    return str(event.content.get("taskName", "")).startswith("manualJudgment.")
