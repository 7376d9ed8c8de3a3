"""`/spinnaker run <app> <pipeline>`: a form of the pipeline's parameters, a trigger through Gate, and a
message saying who started it, under which the run's notifications thread."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from relay.access.authorization import slack_run_event_id, verdict
from relay.clients.gate import GateError
from relay.clients.slack import classify
from relay.commands.replies import NO_GATE, ephemeral, tell
from relay.commands.retries import retry_gate
from relay.commands.run_form import (
    CALLBACK_ID,
    form_context,
    form_view,
    loading_view,
    message_view,
    submitted_parameters,
)
from relay.models import MessageFacts, SlashCommand
from relay.rules.policy import RUN
from relay.spinnaker.app_names import name_problem
from relay.spinnaker.execution import execution_link
from relay.store import DeliveryDraft, DuplicateEvent, Job
from schemas.messages import MESSAGE_SCHEMA
from schemas.mrkdwn import escape, link, truncate

if TYPE_CHECKING:
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

FORM_JOB, TRIGGER_JOB = "commands.run_form", "commands.run_trigger"
MAX_NAME = 200
NO_EMAIL = ("The relay cannot see your email address in Slack, and Spinnaker needs it to start a run in your "
            "name (the Slack app needs the users:read.email scope).")


def run_command(services: Services, command: SlashCommand, rest: str) -> dict[str, Any] | None:
    """Refuse at once what needs no lookup, then open the form (a trigger_id lasts 3 seconds); a job checks
    the person against the pipeline's own application and fills the form in."""
    application, _, pipeline = rest.partition(" ")
    pipeline = pipeline.strip(" \"'")
    if not application or not pipeline or len(pipeline) > MAX_NAME:
        return ephemeral(f"Usage: `{command.command} run <application> <pipeline name>`")
    problem = name_problem(application)
    if problem:
        return ephemeral(f"`{escape(truncate(application, 50))}` is not an application name: {problem}.")
    if services.gate is None:
        return ephemeral(NO_GATE)
    if services.poster is None or not command.trigger_id:
        return ephemeral("The relay has no Slack token (`SLACK_BOT_TOKEN`), so it cannot open a form.")
    if not services.policy.might_allow(RUN, command.user_id):
        return ephemeral(":no_entry: you are not among the people allowed to run pipelines from Slack.")
    context = {"application": application, "pipeline": pipeline, "channel_id": command.channel_id,
               "channel_name": command.channel_name, "response_url": command.response_url}
    try:
        view_id = services.poster.open_view(command.trigger_id, loading_view(context))
    except SlackApiError as err:
        return ephemeral(f":x: Slack did not open the form ({classify(err).error}).")
    except OSError:
        return ephemeral(":x: Slack did not open the form in time; run the command again.")
    services.store.enqueue_job(FORM_JOB, {"view_id": view_id, "user_id": command.user_id, **context},
                               now=services.clock())
    return None


def form_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Replace the loading form with the pipeline's parameters, or with why it cannot be run. The policy is
    checked against the application Gate names in the pipeline config, not the name typed."""
    context = {k: v for k, v in payload.items() if k not in ("view_id", "user_id")}
    application, name = context["application"], context["pipeline"]
    try:
        config = find_pipeline(services.gate.pipeline_configs(application), name)
    except GateError as err:
        retry_gate(services, payload, job, err, notice=False)  # the form says it is still fetching
        view = message_view(context, f":x: Spinnaker did not list the pipelines of *{escape(application)}*: "
                                     f"{escape(err)}")
    else:
        if config is None:
            view = message_view(context, f"*{escape(application)}* has no pipeline named *{escape(name)}*.")
        elif refusal := _refusal(services, config, payload.get("user_id") or ""):
            view = message_view(context, refusal)
        elif config.get("disabled") is True:
            view = message_view(context, f"*{escape(config.get('name'))}* is disabled in Spinnaker.")
        else:
            application = str(config["application"])
            context.update(application=application, pipeline=str(config.get("name")),
                           address=thread_address(services, application, config, context))
            view = form_view(context, config)
    try:
        services.poster.update_view(payload["view_id"], view)
    except SlackApiError as err:
        if classify(err).error != "not_found":
            raise
        log.info("the run form for %s/%s was closed before it was filled in", application, name)


def submit(services: Services, payload: dict[str, Any]) -> dict[str, Any] | None:
    """A submitted form: the required parameters are checked now; the person, again, in the trigger job."""
    view = payload.get("view") if isinstance(payload.get("view"), dict) else {}
    context = form_context(view)
    user_id = str((payload.get("user") or {}).get("id") or "")
    if not context.get("application") or not context.get("address"):
        return {"response_action": "update", "view": message_view(context, "This form is out of date: run "
                                                                           "the command again.")}
    parameters, errors = submitted_parameters(view)
    if errors:
        return {"response_action": "errors", "errors": errors}
    services.store.enqueue_job(TRIGGER_JOB, {**context, "parameters": parameters, "user_id": user_id},
                               now=services.clock())
    return None


def trigger_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    """Check the person again against the pipeline's application, POST the trigger to Gate once (tried
    again only when it never reached Gate), then queue the message that says who started the run."""
    application, pipeline = payload["application"], payload["pipeline"]
    answer = verdict(services, RUN, application, payload["user_id"])
    email = services.directory.email(payload["user_id"]) if answer.allowed and services.directory else None
    if not answer.allowed or not email:
        refusal = f":no_entry: {escape(answer.reason)}." if not answer.allowed else f":no_entry: {NO_EMAIL}"
        tell(services, payload.get("response_url"), ephemeral(refusal))
        return
    trigger = {"type": "manual", "user": email, "parameters": payload["parameters"]}
    try:
        started = services.gate.trigger(application, pipeline, trigger, user=email)
    except GateError as err:
        retry_gate(services, payload, job, err, retry=not err.sent)  # a run may have started: never twice
        tell(services, payload.get("response_url"),
             ephemeral(f":x: Spinnaker did not start *{escape(pipeline)}* in *{escape(application)}*: "
                       f"{escape(err)}"))
        return
    execution_id = str(started.get("ref") or "").rsplit("/", 1)[-1]
    if not execution_id:
        tell(services, payload.get("response_url"),
             ephemeral(f"Spinnaker accepted *{escape(pipeline)}* but named no run; look for it in "
                       "Spinnaker."))
        return
    announce(services, payload, execution_id)


def _refusal(services: Services, config: dict[str, Any], user_id: str) -> str | None:
    """Why the person may not run this pipeline (by its application as Gate names it), or None."""
    application = config.get("application")
    if not application:
        return ":no_entry: Spinnaker did not say which application this pipeline belongs to."
    answer = verdict(services, RUN, str(application), user_id)
    if not answer.allowed:
        return f":no_entry: {escape(answer.reason)}."
    if not services.directory or not services.directory.email(user_id):
        return f":no_entry: {NO_EMAIL}"
    return None


def announce(services: Services, payload: dict[str, Any], execution_id: str) -> None:
    """Queue the run's parent message in the outbox under the key Echo's notifications for this run and
    channel will use, so they update it and thread under it; if they came first, reply in their thread."""
    application, pipeline, address = payload["application"], payload["pipeline"], payload["address"]
    url = execution_link(services.settings.spinnaker_ui_url, application, execution_id)
    values = ", ".join(f"{name}={value}" for name, value in payload["parameters"].items())
    facts = MessageFacts(
        fallback=escape(f"{pipeline} in {application} was started from Slack"),
        headline=f":arrow_forward: {pipeline} started from Slack",
        summary=(f"<@{payload['user_id']}> started *{link(url, pipeline)}* in *{escape(application)}* "
                 "from Slack"),
        facts=(("Parameters", escape(truncate(values, 1900))),) if values else (),
        link=url, footer=f"Pipeline execution `{escape(execution_id)}`")
    run_key = f"{execution_id}@{address}"
    common = {"thread_key": run_key, "channel": address, "template": "pipeline.started_from_slack",
              "payload": MESSAGE_SCHEMA.dump(facts)}
    if services.store.thread_started(run_key):
        draft = DeliveryDraft(action="reply", parent_key=run_key, **common)
    else:
        draft = DeliveryDraft(action="upsert", message_key=run_key, rank=0, **common)
    try:
        services.store.accept_event(event_id=slack_run_event_id(execution_id), type="relay:run:slack",
                                    application=application, execution_id=execution_id, drafts=[draft],
                                    now=services.clock())
    except DuplicateEvent:
        log.info("run %s was announced already", execution_id)


def find_pipeline(configs: list[dict], name: str) -> dict[str, Any] | None:
    """The pipeline config named `name` (exactly, else ignoring case), or with that id, like Gate's lookup."""
    exact = [c for c in configs if c.get("name") == name]
    loose = [c for c in configs if str(c.get("name", "")).lower() == name.lower() or c.get("id") == name]
    return (exact or loose or [None])[0]


def thread_address(services: Services, application: str, config: dict[str, Any],
                   context: dict[str, Any]) -> str:
    """The Slack address, as the pipeline's notification preferences or the relay's routes spell it, that
    names the channel the command came from; its channel ID when none does."""
    channel_id, channel_name = context["channel_id"], (context.get("channel_name") or "").lower()
    for address in _addresses(services, application, config):
        if address == channel_id or (channel_name and address.lstrip("#").lower() == channel_name):
            return address
    return channel_id


def _addresses(services: Services, application: str, config: dict[str, Any]) -> Iterator[str]:
    types = services.settings.notification_types
    preferences = list(config.get("notifications") or [])
    for stage in config.get("stages") or []:
        if isinstance(stage, dict):
            preferences += stage.get("notifications") or []
    for preference in preferences:
        if isinstance(preference, dict) and preference.get("type") in types and preference.get("address"):
            yield str(preference["address"]).strip()
    name = str(config.get("name"))
    for route in services.settings.rules.routes:
        if fnmatchcase(application, route.application) and fnmatchcase(name, route.pipeline):
            yield route.channel


def register(handlers: Handlers) -> None:
    handlers.view(CALLBACK_ID, submit)
    handlers.job(FORM_JOB, form_job)
    handlers.job(TRIGGER_JOB, trigger_job)
