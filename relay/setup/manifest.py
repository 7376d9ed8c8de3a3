"""The Slack app manifest for "Create an app → From an app manifest": scopes, interactivity, /spinnaker."""

from __future__ import annotations

from typing import Any

APP_NAME = "SlackOps Relay"
COMMAND = "/spinnaker"
# What the relay's features call: posting and threading (chat:write), posting to public channels it has not
# joined (chat:write.public), joining them on `not_in_channel` (channels:join), finding channels by name
# (channels:read), people's emails and groups for the policy (users:read, users:read.email, usergroups:read),
# and the slash command (commands).
BOT_SCOPES = ("channels:join", "channels:read", "chat:write", "chat:write.public", "commands",
              "usergroups:read", "users:read", "users:read.email")
INTERACTIONS_PATH = "/slack/interactions"
COMMANDS_PATH = "/slack/commands"


def app_manifest(*, url: str | None, socket_mode: bool, name: str = APP_NAME) -> dict[str, Any]:
    """The manifest for a relay at `url` (its public HTTPS base), or one that uses Socket Mode, where Slack
    needs no URL at all."""
    if not socket_mode and not url:
        raise ValueError("a relay that does not use Socket Mode needs the public URL Slack will call")
    base = (url or "").rstrip("/")
    command: dict[str, Any] = {
        "command": COMMAND, "description": "Run, cancel and inspect Spinnaker pipelines",
        "usage_hint": "help | status <app> | pending | run <app> <pipeline> | cancel <id>",
        "should_escape": False}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        command["url"] = base + COMMANDS_PATH
        interactivity["request_url"] = base + INTERACTIONS_PATH
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Spinnaker pipelines in Slack, and Manual Judgments decided from Slack",
            "background_color": "#139bb4",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
