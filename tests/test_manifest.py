"""`slackops-relay manifest`: a Slack app manifest with the scopes, URLs and command the relay needs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from relay.app import create_app
from relay.cli import cli
from relay.config import Settings
from relay.setup.manifest import BOT_SCOPES, app_manifest

SCHEMA = json.loads((Path(__file__).parent / "slack_app_manifest.schema.json").read_text())
NEEDED_SCOPES = {"chat:write", "chat:write.public", "users:read", "users:read.email", "usergroups:read",
                 "channels:join", "channels:read", "commands"}


def manifest_from_cli(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["manifest", *args])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


def test_manifest_for_a_public_relay_matches_slacks_structure() -> None:
    manifest = manifest_from_cli("--url", "https://relay.example.com/")

    jsonschema.validate(manifest, SCHEMA)
    assert manifest["settings"]["interactivity"] == {
        "is_enabled": True, "request_url": "https://relay.example.com/slack/interactions"}
    assert manifest["settings"]["socket_mode_enabled"] is False
    [command] = manifest["features"]["slash_commands"]
    assert (command["command"], command["url"]) == ("/spinnaker", "https://relay.example.com/slack/commands")
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == NEEDED_SCOPES
    assert manifest["settings"]["event_subscriptions"] == {
        "request_url": "https://relay.example.com/slack/events", "bot_events": ["app_home_opened"]}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_for_socket_mode_names_no_url() -> None:
    manifest = manifest_from_cli("--socket-mode", "--format", "json")

    jsonschema.validate(manifest, SCHEMA)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert manifest["settings"]["event_subscriptions"] == {"bot_events": ["app_home_opened"]}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == NEEDED_SCOPES


@pytest.mark.parametrize("break_it", [
    lambda m: m["settings"]["interactivity"].pop("request_url"),
    lambda m: m["features"]["slash_commands"][0].pop("url"),
    lambda m: m["settings"]["event_subscriptions"].pop("request_url"),
    lambda m: m["settings"]["event_subscriptions"].update(bot_events=["app home opened"]),
    lambda m: m["features"]["app_home"].update(home_tab=True),
    lambda m: m["display_information"].update(name="x" * 36),
    lambda m: m["settings"].update(socket_mode=True),
])
def test_manifest_schema_rejects_what_slack_rejects(break_it) -> None:
    manifest = copy.deepcopy(app_manifest(url="https://relay.example.com", socket_mode=False))
    break_it(manifest)

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, SCHEMA)


def test_manifest_urls_are_routes_the_relay_serves() -> None:
    manifest = app_manifest(url="https://relay.example.com", socket_mode=False)
    settings = Settings(database_url="sqlite://", slack_signing_secret="signing-secret-of-the-relay")
    client = create_app(settings).test_client()

    urls = [manifest["settings"]["interactivity"]["request_url"],
            manifest["features"]["slash_commands"][0]["url"],
            manifest["settings"]["event_subscriptions"]["request_url"]]

    for url in urls:  # unsigned, so 401 rather than 404
        assert client.post(url.removeprefix("https://relay.example.com")).status_code == 401


def test_manifest_scopes_come_from_one_list() -> None:
    assert manifest_from_cli("--socket-mode")["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)


@pytest.mark.parametrize("args, message", [
    (["--url", "http://relay.example.com"], "Slack only calls https:// URLs"),
    ([], "give --url"),
    (["--socket-mode", "--url", "https://relay.example.com"], "give --url or --socket-mode, not both"),
    (["--socket-mode", "--name", "n" * 36], "must be 1 to 35 characters"),
])
def test_manifest_refuses_what_slack_would(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["manifest", *args])

    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("url, interactions", [
    ("https://relay.example.com/base/", "https://relay.example.com/base/slack/interactions"),
    ("https://relay.example.com?key=abc", "https://relay.example.com/slack/interactions?key=abc"),
    ("https://relay.example.com/r/?key=a%2Fb#top", "https://relay.example.com/r/slack/interactions?key=a%2Fb"),
])
def test_manifest_urls_keep_the_base_path_and_query(url: str, interactions: str) -> None:
    manifest = manifest_from_cli("--url", url)

    assert manifest["settings"]["interactivity"]["request_url"] == interactions
    commands = interactions.replace("interactions", "commands")
    assert manifest["features"]["slash_commands"][0]["url"] == commands
    assert manifest["settings"]["event_subscriptions"]["request_url"] == interactions.replace("interactions",
                                                                                              "events")
