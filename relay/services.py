"""The collaborators an app or a worker needs, built once from Settings (tests pass their own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.clients.directory import SlackDirectory
from relay.clients.fiat import FiatClient
from relay.clients.gate import GateAuth, GateClient
from relay.clients.slack import SlackPoster, build_client
from relay.clients.slack_signature import SlackVerifier
from relay.config import SLACK_TIMEOUT, Settings
from relay.delivery.dispatcher import Dispatcher
from relay.metrics import Metrics
from relay.rules.addresses import join_refusal
from relay.rules.policy import CANCEL, JUDGE, RUN, Policy
from relay.store import DRY_RUN, Delivery, Job, Store
from schemas.mrkdwn import safe_payload


@dataclass
class Services:
    """Settings, the store, Slack (None in dry-run), Gate (None without GATE_URL), Fiat (None without
    RELAY_FIAT_URL), policy, the features' handlers, metrics, and the clock everything shares (tests drive
    their own)."""

    settings: Settings
    store: Store
    poster: SlackPoster | None
    gate: GateClient | None = None
    directory: SlackDirectory | None = None
    verifier: SlackVerifier = field(default_factory=lambda: SlackVerifier(None))
    policy: Policy = field(default_factory=lambda: Policy({}))
    handlers: Handlers = field(default_factory=lambda: Handlers())
    metrics: Metrics = field(default_factory=Metrics)
    fiat: FiatClient | None = None
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> Services:
        """Build every collaborator from settings; keyword overrides replace any of them (tests)."""
        metrics = Metrics()
        poster = directory = None
        if not settings.dry_run:
            client = build_client(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                                  timeout=SLACK_TIMEOUT, metrics=metrics)
            poster, directory = SlackPoster(client), SlackDirectory(client)
        rules = settings.rules
        built = {
            "settings": settings, "poster": poster, "directory": directory,
            # A connection for each thread of a worker's lanes, and for the one that leases.
            "store": Store.from_url(settings.database_url,
                                    connections=settings.delivery_concurrency + settings.job_concurrency + 2),
            "gate": gate_client(settings, on_call=metrics.gate_answer),
            "verifier": SlackVerifier(settings.slack_signing_secret),
            "policy": Policy({JUDGE: rules.approvers, RUN: rules.runners, CANCEL: rules.cancelers}),
            "fiat": fiat_client(settings), "metrics": metrics,
        }
        return cls(**{**built, **overrides})

    def dispatcher(self, **overrides) -> Dispatcher:
        """A dispatcher wired to these services."""
        options = {"store": self.store, "poster": self.poster,
                   "max_attempts": self.settings.delivery_max_attempts,
                   "channel_interval": self.settings.channel_interval,
                   "lease_seconds": self.settings.lease_seconds, "clock": self.clock,
                   "on_result": self.delivered,
                   "run_job": lambda job: self.handlers.run_job(self, job),
                   "render": lambda delivery: self.handlers.render_delivery(self, delivery),
                   "join_refusal": self.join_refusal,
                   "delivery_threads": self.settings.delivery_concurrency,
                   "job_threads": self.settings.job_concurrency,
                   "job_deadline": self.settings.job_deadline, "metrics": self.metrics}
        return Dispatcher(**{**options, **overrides})

    def delivered(self, delivery: Delivery, result: str) -> None:
        """Count a delivery's outcome, and let the features follow up on a message that went out."""
        self.metrics.delivery(delivery.template, result)
        if result in ("sent", DRY_RUN):
            self.handlers.after_sent(self, delivery)

    def join_refusal(self, delivery: Delivery) -> str | None:
        """Why the bot must not join a delivery's channel, judged for the application of its event."""
        application = self.store.event_application(delivery.event_id) if delivery.event_id else None
        return join_refusal(self.settings, delivery.channel, application)


ActionHandler = Callable[["Services", dict, dict], dict | None]
ViewHandler = Callable[["Services", dict], dict | None]
JobHandler = Callable[["Services", dict, Job], None]  # the job's payload, and the job (its attempt count)
SentHandler = Callable[["Services", Delivery], None]
Renderer = Callable[["Services", Delivery], dict]
# An Events API event's handler names the job (kind, payload) that does its work, or None for nothing.
EventHandler = Callable[["Services", dict], tuple[str, dict] | None]


class Handlers:
    """Where Slack interactions, Events API events and background jobs go: handlers by block action_id
    prefix, view callback_id, event type and job kind, and follow-ups by the template of a delivery sent;
    each feature registers its own."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionHandler] = {}
        self.views: dict[str, ViewHandler] = {}
        self.events: dict[str, EventHandler] = {}
        self.jobs: dict[str, JobHandler] = {}
        self.sent_handlers: dict[str, list[SentHandler]] = {}
        self.render: Renderer | None = None

    def action(self, prefix: str, handler: ActionHandler) -> None:
        self.actions[prefix] = handler

    def view(self, callback_id: str, handler: ViewHandler) -> None:
        self.views[callback_id] = handler

    def event(self, event_type: str, handler: EventHandler) -> None:
        self.events[event_type] = handler

    def job(self, kind: str, handler: JobHandler) -> None:
        self.jobs[kind] = handler

    def sent(self, template: str, handler: SentHandler) -> None:
        self.sent_handlers.setdefault(template, []).append(handler)

    def renderer(self, render: Renderer) -> None:
        """What turns a delivery's recipe into its message, at send time."""
        self.render = render

    def render_delivery(self, services: Services, delivery: Delivery) -> dict:
        if self.render is None:
            raise LookupError(f"no renderer for the recipe of delivery {delivery.id}")
        return self.render(services, delivery)

    def after_sent(self, services: Services, delivery: Delivery) -> None:
        for handler in self.sent_handlers.get(delivery.template, ()):
            handler(services, delivery)

    def event_job(self, services: Services, payload: dict) -> tuple[str, dict] | None:
        """The job an Events API payload asks for: its inner event's handler decides (None: nothing)."""
        event = payload.get("event")
        if payload.get("type") != "event_callback" or not isinstance(event, dict):
            return None
        handler = self.events.get(str(event.get("type", "")))
        return handler(services, event) if handler else None

    def handle_interaction(self, services: Services, payload: dict) -> dict | None:
        """Route one interaction payload; returns the ack body (None for an empty 200), its text made safe."""
        return safe_payload(self._route(services, payload))

    def _route(self, services: Services, payload: dict) -> dict | None:
        kind = payload.get("type")
        if kind == "block_actions":
            actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
            for action in (a for a in actions if isinstance(a, dict)):  # foreign input: skip what is not one
                handler = self._action_handler(str(action.get("action_id", "")))
                if handler is not None:
                    return handler(services, payload, action)
            return None
        if kind in ("view_submission", "view_closed"):
            view = payload.get("view") if isinstance(payload.get("view"), dict) else {}
            handler = self.views.get(str(view.get("callback_id", "")))
            return handler(services, payload) if handler else None
        return None

    def run_job(self, services: Services, job: Job) -> None:
        handler = self.jobs.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        handler(services, job.payload, job)

    def _action_handler(self, action_id: str) -> ActionHandler | None:
        matches = [p for p in self.actions if action_id.startswith(p)]
        return self.actions[max(matches, key=len)] if matches else None


def gate_client(settings: Settings, **options) -> GateClient | None:
    """A Gate client with the configured auth (and GateClient `options`), or None when GATE_URL is unset."""
    if not settings.gate_url:
        return None
    auth = GateAuth(token=settings.gate_token, username=settings.gate_username,
                    password=settings.gate_password, client_cert=settings.gate_client_cert,
                    client_key=settings.gate_client_key, ca_bundle=settings.gate_ca_bundle)
    options = {"auth": auth, "timeout": settings.gate_timeout, "user_header": settings.gate_user_header,
               **options}
    return GateClient(settings.gate_url, **options)


def fiat_client(settings: Settings) -> FiatClient | None:
    """A Fiat client when RELAY_FIAT_URL is set: judgments are then also checked against Spinnaker's roles."""
    return FiatClient(settings.fiat_url, timeout=settings.gate_timeout) if settings.fiat_url else None
