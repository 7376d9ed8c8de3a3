"""Socket Mode against a local WebSocket server speaking Slack's envelope protocol."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from relay.commands.run_form import form_view
from relay.models import RelayRules
from relay.socket_mode import SocketModeRelay
from relay.store import Store, migrate
from tests.chatops import ALICE, command_fields, only, relay_services
from tests.fake_socket_mode import FakeSocketMode
from tests.fakes import FakeSlack
from tests.processes import ROOT, Relay, wait_until

ACK_BUDGET_SECONDS = 3.0


@pytest.fixture
def server(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as fake:
        slack.socket_url = fake.url
        yield fake
    assert fake.errors == []


@pytest.fixture
def relay(slack: FakeSlack, server: FakeSocketMode, tmp_path: Path) -> Iterator[SocketModeRelay]:
    services = relay_services(slack, tmp_path, rules=RelayRules(runners={"compute": only(ALICE)}))
    client = SocketModeRelay(services, app_token=slack.app_token, ping_interval=0.5,
                             web_client=WebClient(token=slack.token, base_url=slack.api_url))
    client.connect()
    yield client
    client.close()


def test_socket_mode_answers_a_slash_command_in_its_ack(slack: FakeSlack, server: FakeSocketMode,
                                                        relay: SocketModeRelay) -> None:
    envelope = server.send_envelope("slash_commands", command_fields(slack, "help"))

    ack = server.wait_for_ack(envelope)

    assert ack.seconds < ACK_BUDGET_SECONDS
    assert ack.payload["response_type"] == "ephemeral"
    assert "/spinnaker run &lt;application&gt; &lt;pipeline&gt;" in ack.payload["text"]
    assert slack.calls_to("apps.connections.open")[0].headers["authorization"] == f"Bearer {slack.app_token}"


def test_socket_mode_answers_a_redelivered_envelope_without_acting_again(
        slack: FakeSlack, server: FakeSocketMode, relay: SocketModeRelay) -> None:
    envelope = server.send_envelope("slash_commands", command_fields(slack, "help"))
    first = server.wait_for_ack(envelope)

    server.send_envelope("slash_commands", command_fields(slack, "help"), redeliver=envelope)
    again = server.wait_for_ack(envelope)

    assert "/spinnaker run &lt;application&gt; &lt;pipeline&gt;" in first.payload["text"]
    assert again.payload is None


def test_socket_mode_sends_interactions_to_the_http_handlers(slack: FakeSlack, server: FakeSocketMode,
                                                             relay: SocketModeRelay) -> None:
    context = {"application": "compute", "pipeline": "Deploy", "channel_id": slack.channel_id("#deploys"),
               "address": "#deploys", "response_url": slack.new_response_url()}
    config = {"name": "Deploy", "parameterConfig": [{"name": "version", "required": True}]}
    view = {**form_view(context, config), "state": {"values": {"param:version": {"value": {
        "type": "plain_text_input", "value": None}}}}}

    envelope = server.send_envelope("interactive", {"type": "view_submission", "user": {"id": ALICE},
                                                    "view": view})

    ack = server.wait_for_ack(envelope)
    assert ack.seconds < ACK_BUDGET_SECONDS
    assert ack.payload == {"response_action": "errors",
                           "errors": {"param:version": "Spinnaker needs a value for this parameter."}}


def test_socket_mode_acks_envelopes_it_cannot_use(server: FakeSocketMode, relay: SocketModeRelay) -> None:
    unusable = [
        ("slash_commands", {"command": "/spinnaker", "text": "help"}),  # no user or channel: refused
        ("interactive", {"type": "block_actions", "user": {"id": ALICE}, "actions": [
            {"action_id": "spinnaker_control:confirm", "value": "not json"}]}),
        ("events_api", {"type": "event_callback", "event": {"type": "app_mention"}}),
    ]

    envelopes = [server.send_envelope(kind, payload) for kind, payload in unusable]

    acks = [server.wait_for_ack(envelope) for envelope in envelopes]
    assert [ack.payload for ack in acks] == [None, None, None]
    assert max(ack.seconds for ack in acks) < ACK_BUDGET_SECONDS


@pytest.mark.parametrize("end", ["disconnect", "close", "drop"])
def test_socket_mode_reconnects_on_its_own(slack: FakeSlack, server: FakeSocketMode, relay: SocketModeRelay,
                                           end: str) -> None:
    server.wait_for(lambda: server.connection_count == 1, description="the first connection")

    getattr(server, end)()

    server.wait_for(lambda: server.connection_count == 2, timeout=10.0, description="a second connection")
    envelope = server.send_envelope("slash_commands", command_fields(slack, "help"))
    assert server.wait_for_ack(envelope).payload["response_type"] == "ephemeral"
    assert len(slack.calls_to("apps.connections.open")) == 2


def test_socket_command_serves_until_terminated(slack: FakeSlack, server: FakeSocketMode,
                                                tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(database))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": slack.token,
           "SLACK_APP_TOKEN": slack.app_token, "SLACK_API_URL": slack.api_url,
           "RELAY_ECHO_TOKEN": "echo-token-of-the-relay", "RELAY_DATABASE_URL": database}
    relay = Relay(["socket"], env, tmp_path / "socket.log", cwd=tmp_path)
    try:
        wait_until(lambda: server.connection_count == 1, 15.0, "the relay to connect", [relay])
        envelope = server.send_envelope("slash_commands", command_fields(slack, "help"))
        assert "/spinnaker status" in server.wait_for_ack(envelope).payload["text"]
    finally:
        status = relay.stop()
    assert status == 0, relay.tail()


def test_socket_command_needs_an_app_level_token(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-1-bot-token-value",
           "SLACK_APP_TOKEN": "xoxb-not-an-app-token", "RELAY_ECHO_TOKEN": "echo-token-of-the-relay"}

    result = subprocess.run([sys.executable, "-m", "relay.cli", "socket"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)

    assert result.returncode == 1
    assert "SLACK_APP_TOKEN must be the app-level token (xapp-…)" in result.stderr
    assert "xoxb-not-an-app-token" not in result.stderr
