"""Head-of-line blocking: Manual Judgments clicked while Gate takes 5 s per request, and a pipeline event
posted right after them (`python -m bench.head_of_line`).

Each repetition clicks 20 judgments at once, then posts a run-starting event for a channel of its own, and
times how long until the last PATCH reached Gate and until the new run's message reached Slack. The
baseline is the same, measured against a relay whose Gate answers at once."""

from __future__ import annotations

import time

import click
import requests

from bench.harness import HEADERS, database_option, running_relay, workdir
from bench.judgment_ack import judgment_env, judgment_messages
from bench.report import machine_line, percentile, table
from relay.store import IN_FLIGHT, RECEIVED, Store
from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack, Message
from tests.judgment_world import APPROVER, APPROVER_EMAIL, RELAY_IDENTITY
from tests.slack_requests import block_actions, form, signed

GATE_DELAY = 5.0
CLICKS = 20
TARGET_PATCHED_SECONDS = 15.0
TARGET_NOTIFIED_MS = 1000.0


@click.command()
@click.option("--repetitions", default=10, show_default=True)
@database_option
def main(repetitions: int, database_url: str | None) -> None:
    """Slow Gate first, then the fast-Gate baseline, each on a relay of its own."""
    click.echo(machine_line())
    click.echo(f"{CLICKS} judgments clicked at once, then a pipeline event; {repetitions} repetitions; Gate "
               f"answering every request after {GATE_DELAY:g}s, against a Gate answering at once")
    results = {name: _measure(delay, repetitions, database_url)
               for name, delay in (("relay, slow Gate", GATE_DELAY), ("baseline: relay, fast Gate", 0.0))}
    rows = []
    for name, (patched, notified) in results.items():
        rows.append([f"{name}: last of {CLICKS} PATCHes reached Gate (s)", len(patched),
                     percentile(patched, 0.5), max(patched)])
        rows.append([f"{name}: new run's message in Slack (ms)", len(notified),
                     percentile(notified, 0.5), max(notified)])
    click.echo()
    click.echo(table(["measure", "n", "p50", "max"], rows))
    patched, notified = results["relay, slow Gate"]
    worst, p50 = max(patched), percentile(notified, 0.5)
    patched_verdict = "meets" if worst <= TARGET_PATCHED_SECONDS else "misses"
    notified_verdict = "meets" if p50 <= TARGET_NOTIFIED_MS else "misses"
    click.echo(f"\nslowest repetition PATCHed all {CLICKS} in {worst:.1f} s ({patched_verdict} the "
               f"{TARGET_PATCHED_SECONDS:.0f} s target); notification p50 {p50:.0f} ms "
               f"({notified_verdict} the {TARGET_NOTIFIED_MS:.0f} ms target)")


def _measure(delay: float, repetitions: int, database_url: str | None) -> tuple[list[float], list[float]]:
    """Seconds until the last PATCH of each repetition reached Gate, and milliseconds until its event's
    message reached Slack."""
    patched, notified = [], []
    with workdir() as directory, FakeGate(identity=RELAY_IDENTITY) as gate, \
            running_relay(directory, database_url=database_url, slack_interval=0, relay_interval=0,
                          env=judgment_env(directory, gate)) as relay, requests.Session() as session:
        session.trust_env = False
        relay.slack.add_user(APPROVER, email=APPROVER_EMAIL)
        messages = judgment_messages(relay, gate, session, CLICKS * repetitions)
        if delay:
            for route in ("get_execution", "judge"):
                gate.fail_next(route, status=None, delay=delay, count=1_000_000)
        store = Store.from_url(relay.database_url)
        try:
            for repetition in range(repetitions):
                batch = messages[repetition * CLICKS:(repetition + 1) * CLICKS]
                channel = f"#head-of-line-{repetition}"
                seconds, milliseconds = _repetition(relay, gate, session, batch, channel)
                patched.append(seconds)
                notified.append(milliseconds)
                _wait_settled(store)
        finally:
            store.engine.dispose()
    return patched, notified


def _repetition(relay, gate: FakeGate, session: requests.Session, batch: list[Message],
                channel: str) -> tuple[float, float]:
    judged_before = len(gate.calls_to("judge"))
    clicked = time.time()  # the fake Gate stamps calls with the wall clock
    for message in batch:
        slack = relay.slack
        raw = form(block_actions(message, "judgment.choose.0", user=APPROVER,
                                 trigger_id=slack.issue_trigger(), response_url=slack.new_response_url()))
        session.post(relay.server.url + "/slack/interactions", data=raw, headers=signed(raw),
                     timeout=30).raise_for_status()
    event = events.pipeline_event("starting", events.execution(
        id=f"hol-{channel[1:]}", notifications=[{"type": "slack", "address": channel, "level": "pipeline",
                                                 "when": ["pipeline.starting"]}]))
    posted = time.monotonic()  # the fake Slack stamps calls with the monotonic clock
    session.post(relay.events_url, json=event, headers=HEADERS, timeout=30).raise_for_status()
    call = relay.slack.wait_for(lambda: _first_post(relay.slack, channel), timeout=120,
                                description=f"the message in {channel}")
    judged = gate.wait_for(lambda: _new_patches(gate, judged_before, len(batch)), timeout=600)
    return max(c.at for c in judged) - clicked, (call.at - posted) * 1000


def _new_patches(gate: FakeGate, before: int, count: int) -> list | None:
    """The PATCHes Gate received after the first `before`, once there are `count` of them."""
    judged = gate.calls_to("judge")[before:]
    return judged if len(judged) >= count else None


def _first_post(slack: FakeSlack, channel: str):
    return next((c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel), None)


def _wait_settled(store: Store) -> None:
    """Until every judgment is decided (or otherwise finished), so repetitions do not overlap."""
    unsettled = {RECEIVED, *IN_FLIGHT}
    deadline = time.monotonic() + 600
    while any(j.status in unsettled for j in store.list_judgments(limit=10_000)):
        if time.monotonic() > deadline:
            raise SystemExit("judgments still unsettled after 600 s")
        time.sleep(0.2)  # polling the database between repetitions, not a fixed wait


if __name__ == "__main__":
    main()
