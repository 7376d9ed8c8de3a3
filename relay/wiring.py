"""The composition root: every feature's handlers, and services built from settings with them."""

from __future__ import annotations

from typing import Any

from relay.changes import deploys
from relay.commands import slash
from relay.config import Settings
from relay.judgments import change_updates, clicks, home, timers
from relay.notifications import recipes
from relay.services import Handlers, Services


def feature_handlers() -> Handlers:
    """The buttons, views, events and jobs of every feature."""
    handlers = Handlers()
    clicks.register(handlers)
    change_updates.register(handlers)
    deploys.register(handlers)
    timers.register(handlers)
    home.register(handlers)
    slash.register(handlers)
    recipes.register(handlers)
    return handlers


def build_services(settings: Settings, **overrides: Any) -> Services:
    """Services from settings, with every feature's handlers (keyword overrides replace any collaborator)."""
    return Services.from_settings(settings, **{"handlers": feature_handlers(), **overrides})
