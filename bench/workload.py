"""The benchmarks' Echo traffic: full executions from tests/payloads, in the proportions Echo sends them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests import events

EVENT_ID_MARK = "@EVENT_ID@"
RUN_ID_MARK = "@RUN_ID@"  # the execution id, so that each 100 events are a run of their own
# Per 100 events of one run: Orca's task events dominate, stage events follow; only the pipeline's own
# start/end and the Manual Judgment stage have Slack preferences, so 6 in 100 notify.
MIX = {"task": 70, "stage": 24, "pipeline": 4, "judgment": 2}
NOTIFYING_SHARE = (MIX["pipeline"] + MIX["judgment"]) / sum(MIX.values())
MIXES = {
    "small": "Deck's running-pipeline fixture: 2 stages, a bare manual trigger (about 2 KB)",
    "medium": "the small run with stages of Orca's pipelinetrigger.json added, to about 40 KB",
    "full": "Orca's pipelinetrigger.json execution: 6 stages and two parent pipelines in its trigger "
            "(about 256 KB)",
    "large": "the full run with its stages repeated, to about 2 MB",
}
# The executions grown from another (the small or full one) with copies of Orca's stages, and their size.
GROWN = {"medium": ("small", 40 * 1024), "large": ("full", 2 * 1024 * 1024)}


def run_for(mix: str, *, channel: str) -> dict[str, Any]:
    """An execution notifying `channel` on start and end, with a Manual Judgment stage notifying it too."""
    if mix in GROWN:
        base, size = GROWN[mix]
        return _grown(run_for(base, channel=channel), size)
    preference = {"type": "slack", "address": channel, "level": "pipeline",
                  "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"]}
    if mix == "small":
        run = events.execution(notifications=[preference])
        run["stages"] = [s for s in run["stages"] if s["id"] != events.JUDGMENT_STAGE_ID]
    else:
        run = events.payload("orca_execution_with_manualJudgment_in_parent.json")
        run.update(status="RUNNING", canceled=False, canceledBy=None, cancellationReason=None,
                   notifications=[preference])
    run["stages"].append(events.judgment_stage(notifications=[
        {"type": "slack", "address": channel, "level": "stage", "when": ["manualJudgment"]}]))
    run["id"] = RUN_ID_MARK
    return run


def _grown(run: dict[str, Any], size: int) -> dict[str, Any]:
    """`run` with copies of Orca's stages (new ids) added before its last stage until its JSON is `size`
    bytes or more."""
    donors = events.payload("orca_execution_with_manualJudgment_in_parent.json")["stages"]
    *stages, last = run["stages"]
    copies = 0
    while len(json.dumps({**run, "stages": [*stages, last]})) < size:
        donor = donors[copies % len(donors)]
        stages.append({**donor, "id": f"{donor['id']}-copy{copies}", "refId": f"copy{copies}"})
        copies += 1
    return {**run, "stages": [*stages, last]}


def echo_mix(mix: str, *, channel: str, seed: int = 7) -> list[dict[str, Any]]:
    """100 events of one run in MIX's proportions, shuffled the same way on every call; the run's id is
    RUN_ID_MARK."""
    run = run_for(mix, channel=channel)
    plain_stages = [s["id"] for s in run["stages"] if s["id"] != events.JUDGMENT_STAGE_ID]
    statuses = ("starting", "complete")
    batch = [events.stage_event(statuses[i % 2], run, stage_id=plain_stages[i % len(plain_stages)],
                                kind="task") for i in range(MIX["task"])]
    batch += [events.stage_event(statuses[i % 2], run, stage_id=plain_stages[i % len(plain_stages)])
              for i in range(MIX["stage"])]
    batch += [events.pipeline_event(statuses[i % 2], run) for i in range(MIX["pipeline"])]
    batch += [events.stage_event("starting", run, stage_id=events.JUDGMENT_STAGE_ID)
              for _ in range(MIX["judgment"])]
    random.Random(seed).shuffle(batch)
    return batch


def body_template(event: dict[str, Any]) -> str:
    """The event as Echo's compact JSON, its eventId EVENT_ID_MARK and its execution id RUN_ID_MARK."""
    return json.dumps({**event, "eventId": EVENT_ID_MARK}, separators=(",", ":"))


def body(event: dict[str, Any], *, event_id: str, run_id: str) -> bytes:
    """The event as Echo's compact JSON with this eventId and execution id."""
    return body_template(event).replace(EVENT_ID_MARK, event_id).replace(RUN_ID_MARK, run_id).encode()


def write_templates(batch: list[dict[str, Any]], directory: Path) -> float:
    """Write `0001.json`… for the load tool's script; returns the mean body size in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    sizes = []
    for number, event in enumerate(batch, start=1):
        text = body_template(event)
        (directory / f"{number:04d}.json").write_text(text)
        sizes.append(len(text.encode()))
    return sum(sizes) / len(sizes)
