"""The Slack app manifest for "Create an app → From an app manifest": scopes, interactivity, /spinnaker,
and the App Home with the event that keeps it up to date."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

APP_NAME = "SlackOps Relay"
COMMAND = "/spinnaker"
# What the relay's features call: posting and threading (chat:write), posting to public channels it has not
# joined (chat:write.public), joining them on `not_in_channel` (channels:join), finding channels by name
# (channels:read), people's emails and groups for the policy (users:read, users:read.email, usergroups:read),
# and the slash command (commands). The Home tab needs none: views.publish and app_home_opened take no scope.
BOT_SCOPES = ("channels:join", "channels:read", "chat:write", "chat:write.public", "commands",
              "usergroups:read", "users:read", "users:read.email")
INTERACTIONS_PATH = "/slack/interactions"
COMMANDS_PATH = "/slack/commands"
EVENTS_PATH = "/slack/events"
BOT_EVENTS = ("app_home_opened",)  # a person opened the Home tab: publish their pending approvals


def app_manifest(*, url: str | None, socket_mode: bool, name: str = APP_NAME) -> dict[str, Any]:
    """The manifest for a relay at `url` (its public HTTPS base), or one that uses Socket Mode, where Slack
    needs no URL at all."""
    if not socket_mode and not url:
        raise ValueError("a relay that does not use Socket Mode needs the public URL Slack will call")
    command: dict[str, Any] = {
        "command": COMMAND, "description": "Run, cancel and inspect Spinnaker pipelines",
        "usage_hint": "help | status <app> | pending | run <app> <pipeline> | cancel <id>",
        "should_escape": False}
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    if not socket_mode:
        command["url"] = endpoint(url, COMMANDS_PATH)
        interactivity["request_url"] = endpoint(url, INTERACTIONS_PATH)
        events["request_url"] = endpoint(url, EVENTS_PATH)
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Spinnaker pipelines in Slack, and Manual Judgments decided from Slack",
            "background_color": "#139bb4",
        },
        "features": {
            # The Home tab lists each person's pending approvals; the Messages tab shows the relay's direct
            # messages, and the relay reads none, so nobody can write there.
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": True},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def endpoint(base_url: str, path: str) -> str:
    """`path` under the relay's base URL, keeping any query string (a proxy's key, say) after it."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path, fragment=""))
