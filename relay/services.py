"""The collaborators an app or a worker needs, built once from Settings (tests pass their own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.addresses import join_refusal
from relay.config import Settings
from relay.directory import SlackDirectory
from relay.dispatcher import Dispatcher
from relay.fiat import FiatClient
from relay.gate import GateAuth, GateClient
from relay.metrics import Metrics
from relay.policy import CANCEL, JUDGE, RUN, Policy
from relay.routing import Routes, default_routes
from relay.slack import SlackPoster, build_client
from relay.store import Delivery, Store
from relay.verification import SlackVerifier


@dataclass
class Services:
    """Settings, the store, Slack (None in dry-run), Gate (None without GATE_URL), Fiat (None without
    RELAY_FIAT_URL), policy, routes, metrics, and the clock everything shares (tests drive their own)."""

    settings: Settings
    store: Store
    poster: SlackPoster | None
    gate: GateClient | None = None
    directory: SlackDirectory | None = None
    verifier: SlackVerifier = field(default_factory=lambda: SlackVerifier(None))
    policy: Policy = field(default_factory=lambda: Policy({}))
    routes: Routes = field(default_factory=default_routes)
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
                                  metrics=metrics)
            poster, directory = SlackPoster(client), SlackDirectory(client)
        rules = settings.rules
        built = {
            "settings": settings, "store": Store.from_url(settings.database_url), "poster": poster,
            "directory": directory, "gate": gate_client(settings),
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
                   "on_result": lambda delivery, result: self.metrics.delivery(delivery.template, result),
                   "run_job": lambda kind, payload: self.routes.run_job(self, kind, payload),
                   "join_refusal": self.join_refusal}
        return Dispatcher(**{**options, **overrides})

    def join_refusal(self, delivery: Delivery) -> str | None:
        """Why the bot must not join a delivery's channel, judged for the application of its event."""
        application = self.store.event_application(delivery.event_id) if delivery.event_id else None
        return join_refusal(self.settings, delivery.channel, application)


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
