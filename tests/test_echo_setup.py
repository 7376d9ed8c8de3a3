"""`slackops-relay echo-config`: Echo's configuration for the relay, with its credentials as placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from relay.cli import cli
from relay.config import Settings
from relay.setup.echo_setup import echo_profile, spinnaker_service

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes" / "examples"

BASE = {"RELAY_CONFIG": "", "SLACK_BOT_TOKEN": "", "RELAY_ECHO_TOKEN": "", "RELAY_ECHO_USERNAME": "",
        "RELAY_ECHO_PASSWORD": ""}


def echo_config(url: str = "http://relay:8080/", **env: str) -> tuple[str, list[dict]]:
    result = CliRunner().invoke(cli, ["echo-config", "--url", url], env={**BASE, **env})
    assert result.exit_code == 0, result.output
    return result.output, list(yaml.safe_load_all(result.output))


def test_echo_config_points_echo_at_the_relay_with_basic_auth() -> None:
    output, (profile, service) = echo_config(RELAY_ECHO_USERNAME="echo",
                                             RELAY_ECHO_PASSWORD="hunter2-secret-xx")

    [endpoint] = profile["rest"]["endpoints"]
    assert endpoint == {"url": "http://relay:8080/echo/events", "username": "echo",
                        "password": "${RELAY_ECHO_PASSWORD}", "retryCount": 3}
    assert profile["rest"]["enabled"] is True
    assert profile["slack"] == {"enabled": False}
    assert service["kind"] == "SpinnakerService"
    assert service["spec"]["spinnakerConfig"]["profiles"]["echo"] == profile
    assert "hunter2-secret-xx" not in output


def test_echo_config_uses_a_bearer_header_for_a_token() -> None:
    output, (profile, _) = echo_config(RELAY_ECHO_TOKEN="t0ken-value-never-printed")

    [endpoint] = profile["rest"]["endpoints"]
    assert endpoint["headers"] == {"Authorization": "Bearer ${RELAY_ECHO_TOKEN}"}
    assert "username" not in endpoint
    assert "t0ken-value-never-printed" not in output
    assert "Echo must have RELAY_ECHO_TOKEN in its environment" in output


def test_echo_config_warns_when_the_relay_takes_events_from_anyone() -> None:
    output, (profile, _) = echo_config()

    assert "WARNING: the relay accepts events without credentials" in output
    assert set(profile["rest"]["endpoints"][0]) == {"url", "retryCount"}


@pytest.mark.parametrize("url, expected", [
    ("http://relay:8080", "http://relay:8080/echo/events"),
    ("http://relay:8080/echo/events", "http://relay:8080/echo/events"),
    ("http://relay:8080/echo/events/", "http://relay:8080/echo/events"),
    ("https://proxy.example.com/relay/", "https://proxy.example.com/relay/echo/events"),
    ("https://proxy.example.com/relay?key=abc", "https://proxy.example.com/relay/echo/events?key=abc"),
])
def test_echo_config_takes_the_base_or_the_full_webhook_url(url: str, expected: str) -> None:
    _, (profile, _) = echo_config(url)

    assert profile["rest"]["endpoints"][0]["url"] == expected


def test_echo_config_needs_an_http_url() -> None:
    result = CliRunner().invoke(cli, ["echo-config", "--url", "relay:8080"], env=BASE)

    assert result.exit_code == 2
    assert "must be an http:// or https:// URL" in result.output


def test_echo_config_is_what_the_kubernetes_examples_show() -> None:
    settings = Settings(echo_username="echo", echo_password="unused-password-value")
    url = "http://slackops-relay.spinnaker"

    assert yaml.safe_load((EXAMPLES / "echo-local.yml").read_text()) == echo_profile(settings, url)
    assert (
        yaml.safe_load((EXAMPLES / "spinnakerservice-patch.yml").read_text())
        == spinnaker_service(settings, url)
    )
