"""Echo events for tests, built from the real executions in tests/payloads the way Echo and Orca shape
them."""

from __future__ import annotations

import copy
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"
JUDGMENT_STAGE_ID = "8274097e-9dd8-4f6f-afc6-1a025a427c94"


def payload(name: str) -> Any:
    """A JSON file from tests/payloads."""
    return copy.deepcopy(_load(name))


@cache
def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def execution(*, notifications: list | None = None, status: str = "RUNNING", **overrides: Any) -> dict:
    """A running pipeline (Gate's GET /pipelines/{id} fixture) with a Manual Judgment stage added."""
    run = payload("gate_GET_pipelines_id_running.json")
    run["application"] = "compute"
    run["status"] = status
    run["trigger"]["user"] = "alice@example.com"
    run["notifications"] = notifications if notifications is not None else [
        {"type": "slack", "address": "#deploys", "level": "pipeline",
         "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"]}]
    run["stages"].append(judgment_stage())
    run.update(overrides)
    return run


def judgment_stage(**context: Any) -> dict:
    """The real Manual Judgment stage from Orca's pipelinetrigger.json fixture, made RUNNING: started now, so
    its deadline lies ahead of a relay running on the real clock."""
    parent = _load("orca_execution_with_manualJudgment_in_parent.json")["trigger"]["parentExecution"]
    stage = copy.deepcopy(next(s for s in parent["trigger"]["parentExecution"]["stages"]
                               if s["id"] == JUDGMENT_STAGE_ID))
    stage.update(status="RUNNING", startTime=int(time.time() * 1000), endTime=None)
    stage["context"]["judgmentInputs"] = [{"value": "Deploy anyway"}, {"value": "Roll back"}]
    stage["context"].update(context)
    for key in ("refId", "requisiteStageRefIds", "stageDetails"):
        stage["context"].pop(key, None)  # Orca strips these from modern stage contexts
    return stage


def pipeline_event(status: str, run: dict | None = None, *, kind: str = "pipeline",
                   event_id: str | None = None) -> dict:
    """`orca:pipeline:<status>` as Echo forwards it (plain body shape)."""
    run = run or execution()
    return {"details": {"source": "orca", "type": f"orca:{kind}:{status}", "created": "1551205789001",
                        "application": run["application"], "requestHeaders": {}},
            "content": {"execution": run, "executionId": run["id"]},
            "eventId": event_id or str(uuid.uuid4())}


def stage_event(status: str, run: dict | None = None, *, stage_id: str | None = None, kind: str = "stage",
                event_id: str | None = None, **content: Any) -> dict:
    """`orca:stage:<status>` (or a task event) with Orca's stage content: context without type or refId."""
    run = run or execution()
    stage = next(s for s in run["stages"] if s["id"] == (stage_id or run["stages"][0]["id"]))
    body = {"standalone": run.get("type") == "ORCHESTRATION", "canceled": bool(run.get("canceled")),
            "context": copy.deepcopy(stage.get("context", {})), "startTime": stage.get("startTime"),
            "endTime": stage.get("endTime"), "executionId": run["id"], "stageId": stage["id"],
            "isSynthetic": stage.get("syntheticStageOwner") is not None, "name": stage["name"],
            "execution": run}
    if kind == "task":
        body["taskName"] = f"{stage['type']}.waitForJudgment"
    body.update(content)
    return {"details": {"source": "orca", "type": f"orca:{kind}:{status}", "created": "1551205789001",
                        "application": run["application"], "requestHeaders": {}},
            "content": body, "eventId": event_id or str(uuid.uuid4())}


def run_with_steps(index: int, channel: str, *, steps: int, prefix: str) -> dict:
    """A run `run-NNN` (id `<prefix>NNNNN`) notifying `channel` when it starts and completes, and after each
    of its `steps` stages."""
    run = execution(id=f"{prefix}{index:05d}", name=f"run-{index:03d}",
                    notifications=[{"type": "slack", "address": channel,
                                    "when": ["pipeline.starting", "pipeline.complete"]}])
    template = run["stages"][0]
    run["stages"] = []
    for step in range(1, steps + 1):
        stage = copy.deepcopy(template)
        stage.update(id=f"stage-{index:03d}-{step:02d}", name=f"step-{step:02d}", refId=str(step))
        stage["context"] = {"sendNotifications": True, "notifications": [
            {"type": "slack", "address": channel, "level": "stage", "when": ["stage.complete"]}]}
        run["stages"].append(stage)
    return run


def flatten(event: dict) -> dict:
    """Echo's `flatten: true` body: details and content as JSON strings."""
    return {**event, "details": json.dumps(event["details"]), "content": json.dumps(event["content"])}


def wrap(event: dict, *, event_name: str = "spinnaker_events", field: str = "payload") -> dict:
    """Echo's `wrap: true` body."""
    return {"eventName": event_name, field: event}
