"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from relay.config import Settings
from relay.errors import register_error_handlers
from relay.judgments import clicks as judgments
from relay.services import Services
from relay.web import commands, console, echo, events, interactions, ops
from relay.wiring import build_services

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               ops_only: bool = False, announce: bool = True) -> Flask:
    """Build the relay's app; tests pass settings and services, production reads the environment.
    `ops_only` serves just the operator endpoints (a standalone worker's health and metrics); `announce`
    logs the setup warnings (off in Gunicorn's workers: the master says them once)."""
    if services is None:
        services = build_services(settings or Settings.from_env())
    app = Flask(__name__)
    app.extensions["relay"] = services
    register_error_handlers(app)
    if not ops_only:
        app.register_blueprint(interactions.bp)
        app.register_blueprint(commands.bp)
        app.register_blueprint(events.bp)
        if services.settings.console_enabled:
            console.register(app, services.settings)
    app.register_blueprint(ops.bp)
    if not ops_only:
        app.wsgi_app = echo.serve_ahead(app.wsgi_app, services)  # type: ignore[method-assign]
    ops.track_requests(app)
    if announce:
        log_setup_warnings(services.settings)
    return app


def log_setup_warnings(settings: Settings) -> None:
    """What the configuration leaves out (no Slack token, no Gate, no approvers), said once at startup."""
    if settings.dry_run:
        log.warning("SLACK_BOT_TOKEN is not set: dry-run mode, messages are rendered and stored, not sent")
    for warning in judgments.setup_warnings(settings):
        log.warning("%s", warning)
