"""Blueprint for the `/spinnaker` slash command (POST /slack/commands), and the command's grammar."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, current_app, jsonify, request

from relay import controls, launch, reports
from relay.models import SlashCommand
from relay.mrkdwn import escape, truncate
from relay.replies import ephemeral
from relay.verification import verified_body
from schemas.commands import SLASH_COMMAND_SCHEMA

if TYPE_CHECKING:
    from relay.routing import Routes
    from relay.services import Services

Subcommand = Callable[["Services", SlashCommand, str], "dict[str, Any] | None"]

bp = Blueprint("commands", __name__)
RATE_WINDOW = 60  # seconds; RELAY_COMMAND_RATE is a number of commands per person in this window


@bp.post("/slack/commands")
def slack_commands() -> Response | tuple[str, int]:
    """Verify the signature on the raw body, answer within Slack's 3 seconds."""
    services = current_app.extensions["relay"]
    raw = request.get_data(cache=True)
    # Slack's certificate probe; answering it does nothing and tells nothing.
    if parse_qs(raw.decode("utf-8", "replace")).get("ssl_check") == ["1"]:
        return "", 200
    verified_body(services.verifier)
    ack = handle_command(services, request.form.to_dict())
    return jsonify(ack) if ack else ("", 200)


def handle_command(services: Services, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """One slash command, from HTTP or Socket Mode: the ack body (an ephemeral reply), or None for none."""
    command = SLASH_COMMAND_SCHEMA.load(dict(fields))
    name, rest = (re.split(r"\s+", command.text.strip(), maxsplit=1) + [""])[:2]
    if not name or name.lower() == "help":
        return ephemeral(usage(command.command))
    subcommand = SUBCOMMANDS.get(name.lower())
    if subcommand is None:
        return ephemeral(f"There is no `{escape(truncate(name, 50))}` command.\n\n{usage(command.command)}")
    limit = services.settings.command_rate
    if services.store.count_command(command.user_id, now=services.clock(), window=RATE_WINDOW) > limit:
        return ephemeral(f":hourglass: You sent more than {limit} commands this minute, so the relay did not "
                         "act on this one. Try again in a minute.")
    return subcommand(services, command, rest.strip())


def usage(command: str) -> str:
    """The command reference, as `help` shows it."""
    return "\n".join([
        f"*{command}* acts on Spinnaker from Slack:",
        f"• `{command} status <application> [pipeline]`: the latest runs, with status, duration and links",
        f"• `{command} pending [application]`: Manual Judgments waiting now, with Approve and Reject buttons",
        f"• `{command} run <application> <pipeline>`: start a pipeline; a form asks for its parameters",
        f"• `{command} cancel <execution id or link> [reason]`: cancel a run (after you confirm)",
        f"• `{command} pause <execution id or link>` and `{command} resume …`: pause or resume a run "
        "(after you confirm)",
        "Who may run, cancel, pause and resume (and judge) is set per application in the relay's policy.",
    ])


SUBCOMMANDS: dict[str, Subcommand] = {
    "status": reports.status_command,
    "pending": reports.pending_command,
    "run": launch.run_command,
    **{verb: partial(controls.control_command, verb=verb) for verb in controls.CONTROLS},
}


def register(routes: Routes) -> None:
    """The views, buttons and jobs of every subcommand."""
    reports.register(routes)
    launch.register(routes)
    controls.register(routes)
