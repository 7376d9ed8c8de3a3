"""A Manual Judgment through a real `slackops-relay serve` process (Gunicorn and its dispatcher), wired to a
fake Slack and a fake Gate only through the environment, as an operator would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack, Message
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    ECHO_TOKEN,
    JUDGMENT_CHANNEL,
    RELAY_IDENTITY,
    STAGE_ID,
    buttons,
)
from tests.processes import ROOT, Relay, free_port, http_status, wait_until
from tests.slack_requests import SIGNING_SECRET, block_actions, form, signed


@pytest.mark.slow
def test_judgment_through_a_running_relay(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "relay.yaml"
    config.write_text(f"approvers:\n  compute:\n    users: [{APPROVER}]\n")
    with FakeSlack() as slack, FakeGate(identity=RELAY_IDENTITY) as gate:
        slack.add_user(APPROVER, email=APPROVER_EMAIL)
        run = events.execution()
        gate.add_execution(run)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": slack.token,
               "SLACK_API_URL": slack.api_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "GATE_URL": gate.url,
               "RELAY_ECHO_TOKEN": ECHO_TOKEN, "RELAY_CONFIG": str(config), "RELAY_CHANNEL_INTERVAL": "0",
               "RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'relay.sqlite3'}"}
        relay = Relay(["serve", "--upgrade", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "relay.log",
                      cwd=tmp_path)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: http_status(f"{base}/healthz") == 200, 60, "the relay to serve", [relay])
            event = events.stage_event("starting", run, stage_id=STAGE_ID)
            accepted = requests.post(f"{base}/echo/events/", json=event, timeout=5,
                                     headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
            assert accepted.status_code == 202
            message = slack.wait_for(lambda: next((m for m in _replies(slack) if buttons(m)), None),
                                     timeout=20)

            raw = form(block_actions(message, "judgment.choose.0", user=APPROVER,
                                     trigger_id=slack.issue_trigger(), response_url=slack.new_response_url()))
            acked = requests.post(f"{base}/slack/interactions", data=raw, headers=signed(raw), timeout=5)

            assert (acked.status_code, acked.content) == (200, b"")
            gate.wait_for(lambda: gate.calls_to("judge"), timeout=20)
            slack.wait_for(lambda: "approved" in slack.message(message.channel, message.ts).text, timeout=20)
            assert gate.stage(run["id"], STAGE_ID)["status"] == "SUCCEEDED"
            listing = subprocess.run([sys.executable, "-m", "relay.cli", "judgments"], env=env, cwd=tmp_path,
                                     capture_output=True, text=True, timeout=60)
            assert "decided" in listing.stdout and APPROVER_EMAIL in listing.stdout
        finally:
            relay.stop(timeout=60)
        [patch] = gate.calls_to("judge")
        assert patch.body["judgedViaSlackBy"] == APPROVER_EMAIL


def _replies(slack: FakeSlack) -> list[Message]:
    return [reply for parent in slack.messages(JUDGMENT_CHANNEL)
            for reply in slack.replies(JUDGMENT_CHANNEL, parent.ts)]
