"""Reading Orca executions and stages: lookups, triggers, durations, failures and Deck links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

FAILED = {"TERMINAL", "FAILED_CONTINUE", "CANCELED", "STOPPED"}
EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{5,63}$")
# Deck's run pages: …/#/applications/<app>/executions/details/<id>, …/executions/<id>, …/tasks/<id>
DECK_RUN_PATH = re.compile(r"/applications/(?P<application>[^/?#]+)/(?:executions(?:/details)?|tasks)/"
                           r"(?P<id>[^/?#]+)")


def stage_by_id(execution: dict[str, Any], stage_id: str | None) -> dict[str, Any]:
    """The stage with this `id` (the ULID Orca sends as stageId), or {}."""
    for stage in _stages(execution):
        if stage.get("id") == stage_id:
            return stage
    return {}


def failing_stage(execution: dict[str, Any]) -> dict[str, Any]:
    """The first non-synthetic stage that ended TERMINAL (or any failed status), or {}."""
    failed = [s for s in _stages(execution) if _text(s.get("status")) in FAILED - {"STOPPED"}]
    top_level = [s for s in failed if not s.get("syntheticStageOwner")]
    return (top_level or failed or [{}])[0]


def stage_error(stage: dict[str, Any]) -> str | None:
    """The error a failed stage reports: exception details, or the first failed task's message."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    exception = context.get("exception") if isinstance(context.get("exception"), dict) else {}
    details = exception.get("details") if isinstance(exception.get("details"), dict) else {}
    errors = details.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    for key in ("error", "message"):
        if details.get(key):
            return str(details[key])
    tasks = stage.get("tasks") if isinstance(stage.get("tasks"), list) else []
    for task in tasks:
        message = dig(task, "taskExceptionDetails", "exception", "details", "error")
        if message:
            return str(message)
    return None


def duration_ms(start: Any, end: Any) -> int | None:
    """Milliseconds between two epoch-ms values, or None when either is missing."""
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start > 0:
        return int(end - start)
    return None


def format_duration(ms: int | None) -> str | None:
    """`3723000` -> `1h 2m 3s`; None stays None."""
    if ms is None:
        return None
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s"]
    return " ".join(p for p in parts if p) if seconds or minutes or hours else f"{ms}ms"


def trigger_fact(execution: dict[str, Any], ui_url: str | None = None) -> tuple[str, str | None]:
    """What started the run, as (label, link): a user, a build, a commit, an image or a parent pipeline
    (linked when Deck's `ui_url` is given)."""
    trigger = execution.get("trigger") if isinstance(execution.get("trigger"), dict) else {}
    other = trigger.get("other") if isinstance(trigger.get("other"), dict) else {}

    def get(key: str) -> Any:
        return trigger.get(key) if trigger.get(key) not in (None, "") else other.get(key)

    kind = str(get("type") or "unknown")
    build = get("buildInfo") if isinstance(get("buildInfo"), dict) else {}
    if build.get("number") is not None or get("buildNumber") is not None:
        job = build.get("name") or get("job") or "build"
        return f"{kind} {job} #{build.get('number') or get('buildNumber')}", _text(build.get("url")) or None
    if kind == "pipeline" or get("parentExecution"):
        parent = get("parentExecution") if isinstance(get("parentExecution"), dict) else {}
        name = get("parentPipelineName") or parent.get("name") or "another pipeline"
        application = get("parentPipelineApplication") or parent.get("application")
        parent_id = parent.get("id") or get("parentPipelineId")
        known = ui_url and application and parent_id
        url = execution_link(ui_url, str(application), str(parent_id)) if known else None
        return f"pipeline {name}", url
    if get("hash") or kind == "git":
        words = ["git", get("slug") or get("project"), get("branch"), str(get("hash") or "")[:12]]
        return " ".join(str(word) for word in words if word), None
    if get("tag") and (kind == "docker" or get("repository")):
        return f"image {get('repository')}:{get('tag')}", None
    if get("user") and kind == "manual":
        return f"{get('user')} (manual)", None
    if get("user"):
        return f"{kind} by {get('user')}", None
    return kind, None


def triggered_by(execution: dict[str, Any]) -> str | None:
    """The user who started the run, when a person did."""
    trigger = execution.get("trigger") if isinstance(execution.get("trigger"), dict) else {}
    user = trigger.get("user")
    if user and user not in ("anonymous", "[anonymous]"):
        return str(user)
    authentication = execution.get("authentication") \
        if isinstance(execution.get("authentication"), dict) else {}
    return authentication.get("user") or None


def execution_link(ui_url: str, application: str, execution_id: str, *, orchestration: bool = False,
                   stage_ref: str | None = None) -> str:
    """Deck's page for a run (or a task), optionally focused on one stage, like Echo's links."""
    section = "tasks" if orchestration else "executions/details"
    link = f"{ui_url}/#/applications/{quote(application, safe='')}/{section}/{quote(execution_id, safe='')}"
    return f"{link}?refId={quote(str(stage_ref), safe='')}" if stage_ref is not None else link


def parse_execution_ref(text: str) -> tuple[str | None, str] | None:
    """An execution id, or a Deck link to a run (bare or in Slack's `<url|label>` form), as
    (application named in the link or None, execution id); None when the text is neither."""
    value = text.strip().removeprefix("<").removesuffix(">").split("|", 1)[0]
    match = DECK_RUN_PATH.search(value)
    if match is None:
        return (None, value) if EXECUTION_ID.match(value) else None
    execution_id = unquote(match["id"])
    return (unquote(match["application"]), execution_id) if EXECUTION_ID.match(execution_id) else None


def dig(value: Any, *keys: str) -> Any:
    """`value[k1][k2]…` through nested objects; None where a level is missing or is not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _stages(execution: dict[str, Any]) -> list[dict[str, Any]]:
    stages = execution.get("stages")
    return [s for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []


def with_event_stage(execution: dict[str, Any], stage_id: str, content: dict[str, Any], *,
                     status: str | None = None) -> dict[str, Any]:
    """The execution of a stage event with that stage as the event describes it: the event's `context`,
    `name` and times are fresher than the execution snapshot beside them. `status` overrides the stage's
    status when the snapshot still shows it unfinished."""
    stage = dict(stage_by_id(execution, stage_id)) or {"id": stage_id, "type": "manualJudgment",
                                                       "status": "RUNNING"}
    for key in ("name", "context", "startTime", "endTime"):
        if content.get(key) is not None:
            stage[key] = content[key]
    if status and stage.get("status") in ("RUNNING", "PAUSED", "NOT_STARTED", None):
        stage["status"] = status
    stages = _stages(execution)
    if not any(s.get("id") == stage_id for s in stages):
        return {**execution, "stages": [*stages, stage]}
    return {**execution, "stages": [stage if s.get("id") == stage_id else s for s in stages]}
