"""Where Slack interactions and background jobs go: each feature registers its handlers here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relay.mrkdwn import safe_payload

if TYPE_CHECKING:
    from relay.services import Services

ActionHandler = Callable[["Services", dict, dict], dict | None]
ViewHandler = Callable[["Services", dict], dict | None]
JobHandler = Callable[["Services", dict], None]


class JobRetry(Exception):
    """Raised by a job handler to be run again after `delay` seconds (counts as an attempt)."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Routes:
    """Handlers by block action_id prefix, view callback_id and job kind."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionHandler] = {}
        self.views: dict[str, ViewHandler] = {}
        self.jobs: dict[str, JobHandler] = {}

    def action(self, prefix: str, handler: ActionHandler) -> None:
        self.actions[prefix] = handler

    def view(self, callback_id: str, handler: ViewHandler) -> None:
        self.views[callback_id] = handler

    def job(self, kind: str, handler: JobHandler) -> None:
        self.jobs[kind] = handler

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

    def run_job(self, services: Services, kind: str, payload: dict[str, Any]) -> None:
        handler = self.jobs.get(kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {kind!r}")
        handler(services, payload)

    def _action_handler(self, action_id: str) -> ActionHandler | None:
        matches = [p for p in self.actions if action_id.startswith(p)]
        return self.actions[max(matches, key=len)] if matches else None


def default_routes() -> Routes:
    """The relay's features, each registering its handlers."""
    from relay import (  # features use this module's types, so they are imported when routes are built
        commands,
        judgments,
    )

    routes = Routes()
    judgments.register(routes)
    commands.register(routes)
    return routes
