"""Slack acknowledgement latency of Manual Judgment clicks while Gate takes 5 s per request, relay vs an app
that only checks Slack's signature, both under the production Gunicorn config
(`python -m bench.judgment_ack`).

Gate is never on the ack path, so its delay must not show; the Gate calls made while the clicks were answered
are counted to show the work went on behind them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click
import requests

from bench.harness import HEADERS, database_option, running_baseline, running_relay, workdir
from bench.report import machine_line, percentile, table
from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack, Message
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    JUDGMENT_CHANNEL,
    OTHER,
    OTHER_EMAIL,
    RELAY_IDENTITY,
    STAGE_ID,
    buttons,
)
from tests.slack_requests import SIGNING_SECRET, block_actions, form, signed

TARGET_P99_MS = 50.0
GATE_DELAY = 5.0
RUN_ID = re.compile(r"ack-run-\d{4}")


@click.command()
@click.option("--judgments", default=100, show_default=True,
              help="Runs awaiting judgment; each gets the approver's click and a second, too-late one.")
@database_option
def main(judgments: int, database_url: str | None) -> None:
    """Click every judgment message twice and time each answer, relay and baseline alternately."""
    click.echo(machine_line())
    with workdir() as directory, FakeGate(identity=RELAY_IDENTITY) as gate, \
            running_baseline(directory, signing_secret=SIGNING_SECRET) as baseline, \
            running_relay(directory, database_url=database_url, slack_interval=0, relay_interval=0,
                          env=judgment_env(directory, gate)) as relay, requests.Session() as session:
        session.trust_env = False
        click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}; {judgments} judgments, 2 clicks "
                   f"each, Gate answering every request after {GATE_DELAY:g}s")
        for user, email in ((APPROVER, APPROVER_EMAIL), (OTHER, OTHER_EMAIL)):
            relay.slack.add_user(user, email=email)
        messages = judgment_messages(relay, gate, session, judgments)
        gate.fail_next("get_execution", status=None, delay=GATE_DELAY, count=1_000_000)
        gate.fail_next("judge", status=None, delay=GATE_DELAY, count=1_000_000)
        gate_calls_before = len(gate.calls)
        timings: dict[str, list[float]] = {"relay": [], "baseline": []}
        for message in messages:
            for user in (APPROVER, OTHER):
                raw = form(block_actions(message, "judgment.choose.0", user=user,
                                         trigger_id=relay.slack.issue_trigger(),
                                         response_url=relay.slack.new_response_url()))
                for name, url in (("relay", relay.server.url), ("baseline", baseline.url)):
                    began = time.monotonic()
                    response = session.post(url + "/slack/interactions", data=raw, headers=signed(raw),
                                            timeout=30)
                    timings[name].append((time.monotonic() - began) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{name} answered a click with {response.status_code}: "
                                         f"{response.text}")
        gate_calls = len(gate.calls) - gate_calls_before
    rows = [[f"{name}: click answered", len(values), percentile(values, 0.5), percentile(values, 0.9),
             percentile(values, 0.99), max(values)] for name, values in timings.items()]
    click.echo()
    click.echo(table(["measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows))
    p99 = percentile(timings["relay"], 0.99)
    click.echo(f"\nGate requests begun while the clicks were answered: {gate_calls}")
    click.echo(f"relay ack p99 {p99:.1f} ms ({'meets' if p99 < TARGET_P99_MS else 'misses'} the "
               f"{TARGET_P99_MS:.0f} ms target; Slack allows 3 s)")


def judgment_env(directory: Path, gate: FakeGate) -> dict[str, str]:
    config = directory / "relay.yaml"
    config.write_text(f"approvers:\n  compute:\n    users: [{APPROVER}, {OTHER}]\n")
    return {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "GATE_URL": gate.url, "RELAY_CONFIG": str(config)}


def judgment_messages(relay, gate: FakeGate, session: requests.Session, count: int) -> list[Message]:
    """Runs of their own reach their Manual Judgment stage; their messages with buttons, once all are up."""
    for number in range(count):
        run = events.execution(id=f"ack-run-{number:04d}")
        gate.add_execution(run)
        event = events.stage_event("starting", run, stage_id=STAGE_ID)
        session.post(relay.events_url, json=event, headers=HEADERS, timeout=30).raise_for_status()
    found = relay.slack.wait_for(lambda: _with_buttons(relay.slack, count), timeout=60 + count,
                                 description=f"{count} judgment messages")
    return sorted(found, key=lambda message: RUN_ID.search(json.dumps(message.blocks)).group())


def _with_buttons(slack: FakeSlack, count: int) -> list[Message] | None:
    found = [reply for parent in slack.messages(JUDGMENT_CHANNEL) for reply in
             slack.replies(JUDGMENT_CHANNEL, parent.ts) if buttons(reply)]
    return found if len(found) >= count else None


if __name__ == "__main__":
    main()
