"""The `/spinnaker` slash command's grammar: which subcommand answers, and the usage text."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from relay.commands import controls, launch, reports
from relay.commands.replies import ephemeral
from relay.models import SlashCommand
from schemas.commands import SLASH_COMMAND_SCHEMA
from schemas.mrkdwn import escape, safe_payload, truncate

if TYPE_CHECKING:
    from relay.services import Handlers, Services

Subcommand = Callable[["Services", SlashCommand, str], "dict[str, Any] | None"]

RATE_WINDOW = 60  # seconds; RELAY_COMMAND_RATE is a number of commands per person in this window


def handle_command(services: Services, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """One slash command, from HTTP or Socket Mode: the ack body (an ephemeral reply, its text made safe),
    or None for none."""
    return safe_payload(_answer(services, fields))


def _answer(services: Services, fields: Mapping[str, Any]) -> dict[str, Any] | None:
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


def register(handlers: Handlers) -> None:
    """The views, buttons and jobs of every subcommand."""
    reports.register(handlers)
    launch.register(handlers)
    controls.register(handlers)
