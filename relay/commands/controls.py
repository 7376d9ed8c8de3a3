"""`/spinnaker cancel|pause|resume <execution>`: look the run up, ask to confirm, then act through Gate."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.access.authorization import verdict
from relay.clients.gate import GateError
from relay.commands.replies import NO_GATE, ephemeral, tell
from relay.commands.retries import retry_gate
from relay.models import SlashCommand
from relay.rules.policy import CANCEL
from relay.spinnaker.execution import execution_link, parse_execution_ref
from relay.store import Job
from schemas.blocks import actions, button, section
from schemas.mrkdwn import escape, link, slack_date, truncate

if TYPE_CHECKING:
    from relay.services import Handlers, Services

ACTION_PREFIX = "spinnaker_control:"
CONFIRM, DISMISS = ACTION_PREFIX + "confirm", ACTION_PREFIX + "dismiss"
PREPARE_JOB, EXECUTE_JOB = "commands.control_prepare", "commands.control_execute"
DISMISS_JOB = "commands.dismiss"
MAX_REASON = 1000
TARGET = re.compile(r"(<[^>]*>|\S*)\s*(.*)", re.DOTALL)  # a link in Slack's <url|label> form may hold spaces


@dataclass(frozen=True)
class Control:
    """One of the run controls: which statuses it applies to, and how to talk about it."""

    verb: str
    past: str
    statuses: frozenset[str]
    button: str
    style: str
    done: str  # the status a run has once the control took effect


CONTROLS = {
    "cancel": Control("cancel", "canceled",
                      frozenset({"RUNNING", "PAUSED", "NOT_STARTED", "BUFFERED", "SUSPENDED"}),
                      "Cancel the run", "danger", "CANCELED"),
    "pause": Control("pause", "paused", frozenset({"RUNNING"}), "Pause the run", "danger", "PAUSED"),
    "resume": Control("resume", "resumed", frozenset({"PAUSED"}), "Resume the run", "primary", "RUNNING"),
}


def control_command(services: Services, command: SlashCommand, rest: str, *, verb: str) -> dict[str, Any]:
    """Take the execution id or link (and a reason to cancel) from someone the policy could let act at all;
    a job looks the run up, checks the person against its application and asks."""
    target, reason = TARGET.match(rest).groups()
    reason_hint = " [reason]" if verb == "cancel" else ""
    usage = f"`{command.command} {verb} <execution id or Spinnaker link>{reason_hint}`"
    if not target:
        return ephemeral(f"Usage: {usage}")
    ref = parse_execution_ref(target)
    if ref is None:
        return ephemeral(f"`{escape(truncate(target, 200))}` is neither an execution id nor a link to a run. "
                         f"Usage: {usage}")
    if services.gate is None:
        return ephemeral(NO_GATE)
    if not services.policy.might_allow(CANCEL, command.user_id):
        return ephemeral(f":no_entry: you are not among the people allowed to {verb} runs from Slack.")
    reason = truncate(reason.strip(), MAX_REASON) if verb == "cancel" else ""
    job = {"verb": verb, "execution_id": ref[1], "reason": reason, "user_id": command.user_id,
           "response_url": command.response_url}
    services.store.enqueue_job(PREPARE_JOB, job, now=services.clock())
    return ephemeral(f":mag: Looking up run `{escape(ref[1])}`…")


def prepare_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Refuse, explain that there is nothing to do, or ask the person to confirm."""
    control = CONTROLS[payload["verb"]]
    execution = _checked_execution(services, control, payload, job)
    if execution is None:
        return
    application = str(execution.get("application"))
    value = json.dumps({"verb": control.verb, "execution_id": execution["id"], "application": application,
                        "reason": payload.get("reason") or ""}, separators=(",", ":"))
    question = f":warning: {control.verb.capitalize()} {_describe(services, execution)}?"
    if payload.get("reason"):
        question += f"\n*Reason:* {escape(payload['reason'])}"
    blocks = [section(question),
              actions([button(control.button, action_id=CONFIRM, value=value, style=control.style),
                       button("Never mind", action_id=DISMISS, value=execution["id"])])]
    tell(services, payload["response_url"],
         ephemeral(escape(f"{control.verb.capitalize()} {execution.get('name')}?"), blocks))


def on_click(services: Services, payload: dict[str, Any], action: dict[str, Any]) -> None:
    """A click on the confirmation: ack at once, act in a job."""
    response_url = payload.get("response_url")
    if action.get("action_id") == DISMISS:
        services.store.enqueue_job(DISMISS_JOB, {"response_url": response_url}, now=services.clock())
        return None
    try:
        value = json.loads(action.get("value") or "")
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("verb") not in CONTROLS or not value.get("execution_id"):
        return None
    user_id = str((payload.get("user") or {}).get("id") or "")
    services.store.enqueue_job(EXECUTE_JOB, {**value, "user_id": user_id, "response_url": response_url},
                               now=services.clock())
    return None


def execute_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Check the person and the run's status again (a second click finds the run canceled), then act. A
    try after one whose answer was lost finds the run as that one left it, and reports it done."""
    control = CONTROLS[payload["verb"]]
    execution = _checked_execution(services, control, payload, job, replace=True,
                                   done=control.done if job.attempts else None)
    if execution is None:
        return
    who = services.directory.email(payload["user_id"]) if services.directory else None
    try:
        if control.verb == "cancel":
            reason = payload.get("reason") or "no reason given"
            reason += f" (from Slack, by {who or payload['user_id']})"
            services.gate.cancel(execution["id"], reason=reason, user=who)
        elif control.verb == "pause":
            services.gate.pause(execution["id"], user=who)
        else:
            services.gate.resume(execution["id"], user=who)
    except GateError as err:
        retry_gate(services, payload, job, err)
        what = _describe(services, execution)
        _answer(services, payload, f":x: Spinnaker did not {control.verb} {what}: {escape(err)}",
                replace=True)
        return
    what = _describe(services, execution)
    _answer(services, payload, f":white_check_mark: <@{payload['user_id']}> {control.past} {what}.",
            replace=True)


def dismiss_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    tell(services, payload["response_url"], {"delete_original": True})


def _checked_execution(services: Services, control: Control, payload: dict[str, Any], job: Job, *,
                       replace: bool = False, done: str | None = None) -> dict[str, Any] | None:
    """The run, if it exists, the person may act on its application, and the control applies to its status
    (or the run is `done` already: reported done); otherwise the person is told why, and None is
    returned."""
    execution_id = payload["execution_id"]
    try:
        execution = services.gate.execution(execution_id)
    except GateError as err:
        retry_gate(services, payload, job, err)
        reason = "Spinnaker knows no such run" if err.status == 404 else escape(err)
        _answer(services, payload, f":x: `{escape(execution_id)}`: {reason}.", replace=replace)
        return None
    application = str(execution.get("application") or "")
    if not application:
        _answer(services, payload, f":x: Spinnaker did not say which application `{escape(execution_id)}` "
                                   "belongs to.", replace=replace)
        return None
    if payload.get("application") and payload["application"] != application:
        _answer(services, payload, f":x: `{escape(execution_id)}` belongs to {escape(application)}, not to "
                                   f"{escape(payload['application'])}.", replace=replace)
        return None
    answer = verdict(services, CANCEL, application, payload["user_id"])
    if not answer.allowed:
        _answer(services, payload, f":no_entry: {escape(answer.reason)}.", replace=replace)
        return None
    status = str(execution.get("status") or "")
    if done is not None and status == done:
        _answer(services, payload, f":white_check_mark: <@{payload['user_id']}> {control.past} "
                                   f"{_describe(services, execution)}.", replace=replace)
        return None
    if status not in control.statuses:
        _answer(services, payload, f"{_describe(services, execution)} is `{escape(status)}`: there is "
                                   f"nothing to {control.verb}.", replace=replace)
        return None
    return execution


def _describe(services: Services, execution: dict[str, Any]) -> str:
    application = str(execution.get("application") or "")
    url = execution_link(services.settings.spinnaker_ui_url, application, str(execution.get("id")),
                         orchestration=execution.get("type") == "ORCHESTRATION")
    started = execution.get("startTime")
    since = f" (started {slack_date(started / 1000)})" if isinstance(started, int | float) else ""
    return f"*{link(url, execution.get('name') or execution.get('id'))}* in *{escape(application)}*{since}"


def _answer(services: Services, payload: dict[str, Any], text: str, *, replace: bool) -> None:
    body = ephemeral(text)
    if replace:
        body["replace_original"] = True
    tell(services, payload["response_url"], body)


def register(handlers: Handlers) -> None:
    handlers.action(ACTION_PREFIX, on_click)
    handlers.job(PREPARE_JOB, prepare_job)
    handlers.job(EXECUTE_JOB, execute_job)
    handlers.job(DISMISS_JOB, dismiss_job)
