"""What long-running commands check as they start: the scopes Slack granted, and that Gate answers."""

from __future__ import annotations

import logging

import click

from relay.access.authorization import scope_warnings
from relay.clients.directory import SlackDirectory
from relay.clients.gate import GateError
from relay.clients.slack import build_client
from relay.config import Settings
from relay.services import gate_client

log = logging.getLogger(__name__)


def warn_about_scopes(settings: Settings) -> None:
    """Log what the policy cannot decide with the scopes Slack granted: such decisions refuse everyone."""
    if settings.dry_run:
        return
    client = build_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    for warning in scope_warnings(SlackDirectory(client), settings.rules):
        log.warning("%s", warning)


def check_gate(settings: Settings) -> None:
    """Clicks and commands all need Gate: a GATE_URL that does not answer stops `socket` at startup."""
    gate = gate_client(settings)
    if gate is None:
        return
    try:
        gate.ping()
    except GateError as err:
        raise click.ClickException(f"GATE_URL {settings.gate_url}: {err}; check the address and the "
                                   "relay's Gate credentials (`slackops-relay doctor` tells more)") from None
