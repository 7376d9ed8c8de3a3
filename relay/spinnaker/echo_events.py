"""Echo events built from a Gate execution, the way Orca shapes them, for previews of real runs."""

from __future__ import annotations

import copy
from typing import Any

from schemas.config import WHEN_VALUES

KINDS = ("pipeline", "orchestration", "stage")
STATUSES = ("starting", "complete", "failed")
EVENT_TYPES = tuple(f"orca:{kind}:{status}" for kind in KINDS for status in STATUSES)


class NotAnExecution(ValueError):
    """The document cannot be made into the event asked for; the message says why."""


def echo_event(execution: Any, event_type: str, *, stage_ref: str | None = None) -> dict[str, Any]:
    """`event_type` (one of EVENT_TYPES) for `execution`; stage events need `stage_ref`, a stage's refId
    or id."""
    if not isinstance(execution, dict) or not execution.get("id") \
            or not isinstance(execution.get("stages"), list):
        raise NotAnExecution("not a Gate execution (an object with id and stages)")
    kind = event_type.split(":")[1]
    details = {"source": "orca", "type": event_type, "created": str(execution.get("startTime") or ""),
               "application": execution.get("application"), "requestHeaders": {}}
    event_id = f"preview-{execution['id']}-{event_type}"
    if kind != "stage":
        return {"details": details, "content": {"execution": execution, "executionId": execution["id"]},
                "eventId": event_id}
    stage = find_stage(execution, stage_ref)
    own = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    context = {k: v for k, v in own.items() if k not in ("refId", "type")}
    content = {"standalone": execution.get("type") == "ORCHESTRATION",
               "canceled": bool(execution.get("canceled")), "context": context,
               "startTime": stage.get("startTime"), "endTime": stage.get("endTime"),
               "executionId": execution["id"], "stageId": stage.get("id"),
               "isSynthetic": stage.get("syntheticStageOwner") is not None, "name": stage.get("name"),
               "execution": execution}
    return {"details": details, "content": content, "eventId": f"{event_id}-{stage.get('id')}"}


def find_stage(execution: dict[str, Any], stage_ref: str | None) -> dict[str, Any]:
    """The stage with this refId (or id); NotAnExecution naming the stages there are otherwise."""
    stages = [s for s in execution["stages"] if isinstance(s, dict)]
    found = next((s for s in stages if stage_ref and stage_ref in (s.get("refId"), s.get("id"))), None)
    if found is None:
        named = ", ".join(f"{s.get('refId')} ({s.get('name')})" for s in stages if s.get("refId")) or "none"
        asked = f"no stage with refId or id {stage_ref}" if stage_ref else "a stage event needs --stage"
        raise NotAnExecution(f"{asked}; its stages by refId: {named}")
    return found


def notifying(execution: dict[str, Any], address: str) -> dict[str, Any]:
    """The execution with `address` notified on every `when`, by the pipeline and by each stage."""
    preference = {"type": "slack", "address": address, "level": "pipeline", "when": list(WHEN_VALUES)}
    run = copy.deepcopy(execution)
    run["notifications"] = [*(run.get("notifications") or []), preference]
    for stage in run["stages"]:
        if isinstance(stage, dict) and isinstance(stage.get("context"), dict):
            stage["context"]["sendNotifications"] = True
            stage["context"]["notifications"] = [*(stage["context"].get("notifications") or []),
                                                 {**preference, "level": "stage"}]
    return run
