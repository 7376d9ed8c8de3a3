"""Credentials in URLs stay out of a running relay's log, even at DEBUG, when the service behind the URL
fails: real `slackops-relay serve` processes, fakes reached over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests import events
from tests.chatops import ALICE, command_fields, form_body
from tests.fakes import FakeSlack
from tests.judgment_world import ECHO_TOKEN
from tests.processes import Relay, free_port, http_status, relay_environment, wait_until
from tests.slack_requests import SIGNING_SECRET, signed

URL_PASSWORD = "url-password-of-the-relay"


def with_userinfo(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://relay:{URL_PASSWORD}@{rest}"


@contextmanager
def running_relay(tmp_path: Path, **env: str) -> Iterator[tuple[str, Relay]]:
    """`serve` logging at DEBUG with `env`; yields its base URL and process, stopped afterwards."""
    port = free_port()
    config = tmp_path / "relay.yaml"
    config.write_text(f"approvers:\n  compute:\n    users: [{ALICE}]\n")
    environ = relay_environment(SLACK_SIGNING_SECRET=SIGNING_SECRET, RELAY_ECHO_TOKEN=ECHO_TOKEN,
                                RELAY_CONFIG=str(config), RELAY_CHANNEL_INTERVAL="0", RELAY_LOG_LEVEL="DEBUG",
                                RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.sqlite3'}", **env)
    relay = Relay(["serve", "--upgrade", "--bind", f"127.0.0.1:{port}"], environ, tmp_path / "relay.log",
                  cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(f"{base}/healthz") == 200, 60, "the relay to serve", [relay])
        yield base, relay
    finally:
        relay.stop(timeout=60)


def logged(relay: Relay, text: str) -> bool:
    return text in relay.log.read_text(errors="replace")


@pytest.mark.slow
def test_secret_leaks_none_when_gate_with_userinfo_is_unreachable(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.add_user(ALICE, email="alice@example.com")
        gate_url = with_userinfo(f"http://127.0.0.1:{free_port()}")
        with running_relay(tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.api_url,
                           GATE_URL=gate_url) as (base, relay):
            raw = form_body(command_fields(slack, "status compute"))
            headers = {**signed(raw), "Content-Type": "application/x-www-form-urlencoded"}
            acked = requests.post(f"{base}/slack/commands", data=raw, headers=headers, timeout=5)
            assert acked.status_code == 200
            wait_until(lambda: logged(relay, "Gate unreachable"), 30, "Gate's failure in the log", [relay])
    log = relay.log.read_text(errors="replace")
    assert URL_PASSWORD not in log and "relay:url-" not in log


@pytest.mark.slow
def test_secret_leaks_none_when_slack_api_url_carries_userinfo(tmp_path: Path) -> None:
    with FakeSlack() as slack, running_relay(tmp_path, SLACK_BOT_TOKEN=slack.token,
                                             SLACK_API_URL=with_userinfo(slack.api_url)) as (base, relay):
        accepted = requests.post(f"{base}/echo/events/", json=events.pipeline_event("starting"), timeout=5,
                                 headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
        assert accepted.status_code == 202
        wait_until(lambda: logged(relay, "chat.postMessage"), 30, "the Slack call in the log", [relay])
    log = relay.log.read_text(errors="replace")
    assert "chat.postMessage" in log and URL_PASSWORD not in log
