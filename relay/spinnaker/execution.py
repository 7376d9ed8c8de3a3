"""Reading Orca executions and stages: lookups, triggers, durations, failures and Deck links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

MAX_PARENTS = 5  # how far up a chain of pipeline triggers who started a run, and its version, are looked for
EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{5,63}$")
# Deck's run pages: …/#/applications/<app>/executions/details/<id>, …/executions/<id>, …/tasks/<id>
COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")
COMMIT_URLS = {"github": "https://github.com/{project}/{slug}/commit/{sha}",
               "gitlab": "https://gitlab.com/{project}/{slug}/-/commit/{sha}",
               "bitbucket": "https://bitbucket.org/{project}/{slug}/commits/{sha}"}
DECK_RUN_PATH = re.compile(r"/applications/(?P<application>[^/?#]+)/(?:executions(?:/details)?|tasks)/"
                           r"(?P<id>[^/?#]+)")


def stage_by_id(execution: dict[str, Any], stage_id: str | None) -> dict[str, Any]:
    """The stage with this `id` (the ULID Orca sends as stageId), or {}."""
    for stage in _stages(execution):
        if stage.get("id") == stage_id:
            return stage
    return {}


def failing_stage(execution: dict[str, Any]) -> dict[str, Any]:
    """Where a run failed, as Deck shows it: the first top-level stage in execution order whose own status,
    or a synthetic child's, is TERMINAL (or STOPPED with an error), else the first FAILED_CONTINUE one, else
    the first CANCELED one; the stage returned is the innermost failed one (the child carrying the error).
    {} when no stage failed."""
    stages = _stages(execution)
    children = _children(stages)
    families = [_family(s, children) for s in _in_order([s for s in stages if not s.get("parentStageId")])]
    for wanted in (_halted, _failed_continue, _canceled):
        for family in families:
            found = next((s for s in family if wanted(s)), None)
            if found:
                return found
    return {}


def failure_in(execution: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """The stage itself when it reports an error, else its first failed synthetic descendant that does."""
    family = _family(stage, _children(_stages(execution))) if stage.get("id") else [stage]
    return next((s for s in [stage, *family] if stage_error(s)), stage)


def owner_of(execution: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """The top-level stage a synthetic stage belongs to (the stage itself when it is top level)."""
    by_id = {s.get("id"): s for s in _stages(execution)}
    seen: set[Any] = set()
    while stage.get("parentStageId") in by_id and stage.get("parentStageId") not in seen:
        seen.add(stage["parentStageId"])
        stage = by_id[stage["parentStageId"]]
    return stage


def stage_error(stage: dict[str, Any]) -> str | None:
    """The error a failed stage reports, from any shape Orca writes: exception details (`errors`, `error`),
    a failed Clouddriver (kato) task, a task's exception, `context.error`, or a webhook's error."""
    return next((error for error in _errors(stage) if error), None)


def _errors(stage: dict[str, Any]) -> Iterator[str | None]:
    """Candidate error texts, most specific first; read lazily, as a stage may hold many tasks."""
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    yield _details_error(dig(context, "exception", "details"))
    yield from (_kato_error(task) for task in _list(context.get("kato.tasks")))
    yield from (_details_error(dig(task, "taskExceptionDetails", "exception", "details"))
                for task in _list(stage.get("tasks")))
    yield _text_of(context.get("error"))
    yield _text_of(dig(context, "webhook", "error"))
    yield _text_of(dig(context, "webhook", "monitor", "error"))
    yield _text_of(context.get("failureMessage"))


def _details_error(details: Any) -> str | None:
    if not isinstance(details, dict):
        return None
    errors = [str(e) for e in _list(details.get("errors")) if e not in (None, "")]
    if errors:
        return "; ".join(errors)
    return _text_of(details.get("error")) or _text_of(details.get("message"))


def _kato_error(task: Any) -> str | None:
    """A Clouddriver task that failed: its exception's message, else its last history line."""
    if not isinstance(task, dict) or dig(task, "status", "failed") is not True:
        return None
    exception = task.get("exception")
    if isinstance(exception, dict) and _text_of(exception.get("message")):
        return _text_of(exception["message"])
    history = [h for h in _list(task.get("history")) if isinstance(h, dict) and h.get("status")]
    return _text_of(history[-1]["status"]) if history else None


def _text_of(value: Any) -> str | None:
    """A non-blank string, or the `message` of an object; None otherwise."""
    if isinstance(value, dict):
        value = value.get("message")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _halted(stage: dict[str, Any]) -> bool:
    """Deck counts TERMINAL as failed, and a STOPPED stage as failed when it carries an error."""
    status = stage.get("status")
    return status == "TERMINAL" or (status == "STOPPED" and stage_error(stage) is not None)


def _failed_continue(stage: dict[str, Any]) -> bool:
    return stage.get("status") == "FAILED_CONTINUE"


def _canceled(stage: dict[str, Any]) -> bool:
    return stage.get("status") == "CANCELED"


def _children(stages: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    """Synthetic stages by the id of the stage that owns them."""
    children: dict[Any, list[dict[str, Any]]] = {}
    for stage in stages:
        if stage.get("parentStageId") is not None:
            children.setdefault(stage["parentStageId"], []).append(stage)
    return children


def _family(stage: dict[str, Any], children: dict[Any, list[dict[str, Any]]],
            seen: frozenset[Any] = frozenset()) -> list[dict[str, Any]]:
    """A stage and its synthetic descendants in the order they run: before-stages, the stage, after-stages
    (and the on-failure stages Orca adds as STAGE_AFTER). `seen` stops at a parent loop in bad input."""
    key = stage.get("id")
    seen = seen | {key}
    own = [s for s in children.get(key, []) if key is not None and s.get("id") not in seen]
    before = [s for s in own if s.get("syntheticStageOwner") == "STAGE_BEFORE"]
    after = [s for s in own if s.get("syntheticStageOwner") != "STAGE_BEFORE"]
    family = [s for child in _in_order(before) for s in _family(child, children, seen)]
    return family + [stage] + [s for child in _in_order(after) for s in _family(child, children, seen)]


def _in_order(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stages by start time; those that never started keep their place after the started ones."""
    def start(indexed: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        value = indexed[1].get("startTime")
        return (value if isinstance(value, int | float) else float("inf"), indexed[0])
    return [stage for _, stage in sorted(enumerate(stages), key=start)]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


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
    """What started the run and who, as (label, link): manual, cron, a CI build, an image, a commit, a parent
    pipeline (linked when Deck's `ui_url` is given), a webhook or a pub/sub message."""
    get = trigger_getter(execution)
    kind = str(get("type") or "unknown")
    label, url = _trigger_what(get, kind, ui_url)
    who = trigger_user(execution)
    if who and kind == "manual":
        return f"{who} (manual)", url
    return (f"{label} by {who}" if who else label), url


def _trigger_what(get: Any, kind: str, ui_url: str | None) -> tuple[str, str | None]:
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
        return " ".join(str(word) for word in words if word), commit_url(get)
    if get("repository") and (get("tag") or get("digest")):
        return f"image {image_ref(get)}", None
    if kind == "cron" and get("cronExpression"):
        return f"cron {get('cronExpression')}", None
    if kind == "webhook" and get("source"):
        return f"webhook {get('source')}", None
    if kind == "pubsub" and get("subscriptionName"):
        return f"pubsub {get('pubsubSystem') or ''} {get('subscriptionName')}".replace("  ", " "), None
    return kind, None


def trigger_getter(execution: dict[str, Any]) -> Any:
    """A lookup of one trigger field, in the flattened (Gate) or the nested `other` (event) shape."""
    trigger = execution.get("trigger") if isinstance(execution.get("trigger"), dict) else {}
    other = trigger.get("other") if isinstance(trigger.get("other"), dict) else {}

    def get(key: str) -> Any:
        return trigger.get(key) if trigger.get(key) not in (None, "") else other.get(key)
    return get


def trigger_user(execution: dict[str, Any], depth: int = 0) -> str | None:
    """Who started the run as Deck shows it: the trigger's user, else the authenticated user, else the
    trigger's service account; for a pipeline trigger with neither, whoever started the parent run."""
    person = triggered_by(execution)
    if person:
        return person
    get = trigger_getter(execution)
    if get("runAsUser") and not _anonymous(get("runAsUser")):
        return str(get("runAsUser"))
    parent = get("parentExecution")
    return trigger_user(parent, depth + 1) if isinstance(parent, dict) and depth < MAX_PARENTS else None


def image_ref(get: Any) -> str:
    """`repository:tag`, or `repository@digest` when only the digest is known."""
    if get("tag"):
        return f"{get('repository')}:{get('tag')}"
    return f"{get('repository')}@{get('digest')}"


def commit_url(get: Any) -> str | None:
    """A hosted repository's page for the trigger's commit (GitHub, GitLab or Bitbucket), when known."""
    return repository_commit_url(get("source"), get("project"), get("slug"), get("hash"))


def repository_commit_url(source: Any, project: Any, slug: Any, sha: Any) -> str | None:
    """`https://github.com/<project>/<slug>/commit/<sha>` and the GitLab and Bitbucket equivalents."""
    host = COMMIT_URLS.get(str(source).lower())
    parts = (project, slug, sha)
    if not host or not all(isinstance(part, str) and part for part in parts) or not COMMIT.match(sha):
        return None
    return host.format(project=quote(project, safe=""), slug=quote(slug, safe=""), sha=sha)


def triggered_by(execution: dict[str, Any]) -> str | None:
    """The user who started the run, when a person did."""
    trigger = execution.get("trigger") if isinstance(execution.get("trigger"), dict) else {}
    user = trigger.get("user")
    if user and not _anonymous(user):
        return str(user)
    authentication = execution.get("authentication") \
        if isinstance(execution.get("authentication"), dict) else {}
    user = authentication.get("user")
    return str(user) if user and not _anonymous(user) else None


def started_by(execution: dict[str, Any]) -> list[str] | None:
    """Everyone named as having started the run: `trigger.user` (which a caller of Gate's trigger API
    chooses), `authentication.user` (who Gate let in), and the same of the parent runs of a pipeline
    trigger. None when the execution has no trigger to tell."""
    if not isinstance(execution.get("trigger"), dict):
        return None
    names: list[str] = []
    run: Any = execution
    for _ in range(MAX_PARENTS + 1):
        if not isinstance(run, dict):
            break
        for name in (dig(run, "trigger", "user"), dig(run, "authentication", "user")):
            if isinstance(name, str) and name and not _anonymous(name) \
                    and name.lower() not in (n.lower() for n in names):
                names.append(name)
        run = dig(run, "trigger", "parentExecution")
    return names


def _anonymous(user: Any) -> bool:
    return str(user).strip().lower() in ("anonymous", "[anonymous]")


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
