"""The collaborators an app or a worker needs, built once from Settings (tests pass their own)."""

from __future__ import annotations

from dataclasses import dataclass, field

from relay.config import Settings
from relay.dispatcher import Dispatcher
from relay.metrics import Metrics
from relay.slack import SlackPoster, build_client
from relay.store import Store


@dataclass
class Services:
    """Settings, the store, the Slack poster (None in dry-run) and metrics."""

    settings: Settings
    store: Store
    poster: SlackPoster | None
    metrics: Metrics = field(default_factory=Metrics)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        metrics = Metrics()
        poster = None
        if not settings.dry_run:
            poster = SlackPoster(build_client(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                                              metrics=metrics))
        return cls(settings=settings, store=Store.from_url(settings.database_url), poster=poster,
                   metrics=metrics)

    def dispatcher(self, **overrides) -> Dispatcher:
        """A dispatcher wired to these services."""
        options = {"store": self.store, "poster": self.poster,
                   "max_attempts": self.settings.delivery_max_attempts,
                   "channel_interval": self.settings.channel_interval,
                   "lease_seconds": self.settings.lease_seconds,
                   "on_result": lambda delivery, result: self.metrics.delivery(delivery.template, result)}
        return Dispatcher(**{**options, **overrides})
