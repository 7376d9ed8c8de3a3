"""`/spinnaker status` and `/spinnaker pending`: read-only answers about an application's runs, from Gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.access.authorization import may_view
from relay.clients.gate import GateError
from relay.commands.replies import NO_GATE, ephemeral, tell
from relay.commands.retries import retry_gate
from relay.judgments.blocks import judgment_actions
from relay.judgments.updates import stage_messages
from relay.models import SlashCommand
from relay.rules.policy import CANCEL, JUDGE, RUN, Verdict
from relay.spinnaker.app_names import name_problem
from relay.spinnaker.execution import duration_ms, execution_link, format_duration, trigger_fact
from relay.store import Job
from schemas.blocks import actions as actions_block
from schemas.blocks import context, section
from schemas.mrkdwn import escape, link, slack_date, truncate

if TYPE_CHECKING:
    from relay.services import Handlers, Services

STATUS_JOB, PENDING_JOB = "commands.status", "commands.pending"
RECENT_RUNS = 10
MAX_JUDGMENTS = 15
RECENT_APPLICATIONS_SECONDS = 7 * 24 * 3600
STATUS_EMOJI = {
    "SUCCEEDED": ":white_check_mark:", "TERMINAL": ":x:", "RUNNING": ":arrows_counterclockwise:",
    "CANCELED": ":no_entry_sign:", "PAUSED": ":double_vertical_bar:", "NOT_STARTED": ":hourglass:",
    "BUFFERED": ":hourglass:", "SUSPENDED": ":zzz:", "STOPPED": ":octagonal_sign:",
    "FAILED_CONTINUE": ":warning:", "SKIPPED": ":fast_forward:",
}


def status_command(services: Services, command: SlashCommand, rest: str) -> dict[str, Any]:
    """`status <app> [pipeline]`: refuse at once what needs no lookup, look the runs up in a job."""
    application, _, pipeline = rest.partition(" ")
    if not application:
        return ephemeral(f"Usage: `{command.command} status <application> [pipeline]`")
    refusal = _refusal(services, command, application)
    if refusal:
        return refusal
    services.store.enqueue_job(STATUS_JOB, {"application": application, "pipeline": pipeline.strip(" \"'"),
                                            "user_id": command.user_id, "response_url": command.response_url},
                               now=services.clock())
    return ephemeral(f":mag: Looking up the latest runs of *{escape(application)}*…")


def pending_command(services: Services, command: SlashCommand, rest: str) -> dict[str, Any]:
    """`pending [app]`: without an application, every application the relay heard from this week."""
    words = rest.split()
    application = words[0] if words else None
    refusal = _refusal(services, command, application)
    if refusal:
        return refusal
    job = {"application": application, "user_id": command.user_id, "channel_id": command.channel_id,
           "command": command.command, "response_url": command.response_url}
    services.store.enqueue_job(PENDING_JOB, job, now=services.clock())
    where = f"*{escape(application)}*" if application else "the applications you may act on"
    return ephemeral(f":mag: Looking for Manual Judgments waiting in {where}…")


def status_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """The latest runs, once the person may see the application they named and the one Gate answers for."""
    application, pipeline = payload["application"], payload.get("pipeline") or ""
    user_id, response_url = payload.get("user_id") or "", payload["response_url"]
    answer = may_view(services, application, user_id)
    if not answer.allowed:
        tell(services, response_url, ephemeral(f":no_entry: {escape(answer.reason)}."))
        return
    try:
        executions = services.gate.executions(application, limit=RECENT_RUNS)
    except GateError as err:
        retry_gate(services, payload, job, err)
        tell(services, response_url, ephemeral(f":x: Spinnaker did not list the runs of "
                                               f"*{escape(application)}*: {escape(err)}"))
        return
    answer = _may_view_runs(services, executions, user_id)
    if not answer.allowed:
        tell(services, response_url, ephemeral(f":no_entry: {escape(answer.reason)}."))
        return
    if pipeline:
        executions = [e for e in executions if str(e.get("name", "")).lower() == pipeline.lower()]
    runs = sorted(executions, key=_started, reverse=True)[:RECENT_RUNS]
    subject = f"*{escape(pipeline)}* in *{escape(application)}*" if pipeline else f"*{escape(application)}*"
    if not runs:
        tell(services, response_url, ephemeral(f"No recent runs of {subject}."))
        return
    ui_url = services.settings.spinnaker_ui_url
    blocks = [section(f"Latest runs of {subject}")]
    now_ms = services.clock() * 1000
    blocks += [section(_run_line(run, ui_url, now_ms)) for run in runs]
    tell(services, response_url, ephemeral(f"Latest runs of {application}", blocks))


def pending_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Waiting judgments of the applications the person may see, by name and as Gate answers for them; a
    failure that may pass has every application asked again later."""
    user_id, response_url = payload.get("user_id") or "", payload["response_url"]
    if payload.get("application"):
        answer = may_view(services, payload["application"], user_id)
        if not answer.allowed:
            tell(services, response_url, ephemeral(f":no_entry: {escape(answer.reason)}."))
            return
        applications = [payload["application"]]
    else:
        recent = services.store.recent_applications(since=services.clock() - RECENT_APPLICATIONS_SECONDS)
        applications = [a for a in recent if may_view(services, a, user_id).allowed]
        if not applications:
            tell(services, response_url, ephemeral(
                "No application you may act on has sent the relay events this week; name one: "
                f"`{payload.get('command') or '/spinnaker'} pending <application>`"))
            return
    waiting, problems = [], []
    for application in applications:
        try:
            executions = services.gate.executions(application, statuses="RUNNING")
        except GateError as err:
            retry_gate(services, payload, job, err)
            problems.append(f":x: Spinnaker did not list the runs of *{escape(application)}*: {escape(err)}")
            continue
        answer = _may_view_runs(services, executions, user_id)
        if not answer.allowed:
            problems.append(f":no_entry: {escape(answer.reason)}.")
            continue
        waiting += [(run, stage) for run in sorted(executions, key=_started)
                    for stage in waiting_judgments(run)]
    blocks = [section(problem) for problem in problems]
    for run, stage in waiting[:MAX_JUDGMENTS]:
        blocks += _judgment_blocks(services, run, stage, payload["channel_id"])
    if len(waiting) > MAX_JUDGMENTS:
        more = f"…and {len(waiting) - MAX_JUDGMENTS} more: name one application to see its own."
        blocks.append(context(more))
    if not waiting:
        blocks.append(section("No Manual Judgment is waiting."))
    tell(services, response_url, ephemeral(f"{len(waiting)} Manual Judgment(s) waiting", blocks))


def _refusal(services: Services, command: SlashCommand, application: str | None) -> dict[str, Any] | None:
    """What can be refused before any lookup: a name no application has, no Gate, or a person no rule
    could let see anything."""
    problem = name_problem(application) if application is not None else None
    if problem:
        return ephemeral(f"`{escape(truncate(application, 50))}` is not an application name: {problem}.")
    if services.gate is None:
        return ephemeral(NO_GATE)
    if not any(services.policy.might_allow(action, command.user_id) for action in (JUDGE, RUN, CANCEL)):
        return ephemeral(":no_entry: you are not among the people allowed to act on any application from "
                         "Slack.")
    return None


def _may_view_runs(services: Services, executions: list[dict[str, Any]], user_id: str) -> Verdict:
    """The policy for every application the runs belong to, as Gate names it."""
    for application in sorted({str(e.get("application") or "") for e in executions}):
        if not application:
            return Verdict(False, "Spinnaker did not say which application a run belongs to")
        answer = may_view(services, application, user_id)
        if not answer.allowed:
            return answer
    return Verdict(True, "may see every run")


def waiting_judgments(execution: dict[str, Any]) -> list[dict[str, Any]]:
    """Manual Judgment stages that are running and not judged yet (Deck's rule for showing its buttons)."""
    return [stage for stage in execution.get("stages") or [] if isinstance(stage, dict)
            and stage.get("type") == "manualJudgment" and stage.get("status") == "RUNNING"
            and not (stage.get("context") or {}).get("judgmentStatus")]


def _judgment_blocks(services: Services, run: dict[str, Any], stage: dict[str, Any],
                     channel_id: str) -> list[dict[str, Any]]:
    """A line about the waiting stage, and the buttons its notification carries. A decision is reported in
    the channel that stage's notification went to, or else in the one the command was typed in."""
    ui_url = services.settings.spinnaker_ui_url
    application, execution_id = str(run.get("application") or ""), str(run.get("id") or "")
    stage_url = execution_link(ui_url, application, execution_id, stage_ref=stage.get("refId"))
    run_url = execution_link(ui_url, application, execution_id)
    started = stage.get("startTime")
    since = f" since {slack_date(started / 1000)}" if isinstance(started, int | float) else ""
    text = (f":hourglass_flowing_sand: *{link(stage_url, stage.get('name') or 'Manual Judgment')}* in "
            f"*{link(run_url, run.get('name') or 'pipeline')}* ({escape(application)}) is waiting{since}")
    address = next(iter(stage_messages(services.store, execution_id, str(stage["id"])).values()), channel_id)
    actions = judgment_actions(run, str(stage["id"]), channel=address)
    return [section(text), actions_block(list(actions))]


def _run_line(run: dict[str, Any], ui_url: str, now_ms: float) -> str:
    status = str(run.get("status") or "UNKNOWN")
    orchestration = run.get("type") == "ORCHESTRATION"
    url = execution_link(ui_url, str(run.get("application") or ""), str(run.get("id") or ""),
                         orchestration=orchestration)
    emoji = STATUS_EMOJI.get(status, ":grey_question:")
    parts = [f"{emoji} *{link(url, run.get('name') or 'run')}* `{escape(status)}`"]
    started = _started(run)
    if started:
        parts.append(f"started {slack_date(started / 1000)}")
    end = run.get("endTime") or (now_ms if status == "RUNNING" else None)
    elapsed = format_duration(duration_ms(run.get("startTime"), end))
    if elapsed:
        parts.append(f"{'running for' if status == 'RUNNING' else 'took'} {elapsed}")
    label, trigger_url = trigger_fact(run)
    parts.append(link(trigger_url, label))
    return " · ".join(parts)


def _started(run: dict[str, Any]) -> float:
    value = run.get("startTime") or run.get("buildTime")
    return float(value) if isinstance(value, int | float) else 0.0


def register(handlers: Handlers) -> None:
    handlers.job(STATUS_JOB, status_job)
    handlers.job(PENDING_JOB, pending_job)
