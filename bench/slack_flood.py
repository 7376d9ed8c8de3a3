"""Unsigned 64 MiB bodies flooding the Slack endpoints while real signed Manual Judgment clicks are answered:
worker memory, the flood's answer times, and the clicks' acks, against the same clicks on the relay at rest
(`python -m bench.slack_flood`)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import requests

from bench.harness import database_option, running_relay, workdir
from bench.judgment_ack import judgment_env, judgment_messages
from bench.memory import resident, settled
from bench.report import machine_line, percentile, table
from relay.config import Settings
from relay.serving import gunicorn_options
from tests.fake_gate import FakeGate
from tests.fakes import Message
from tests.judgment_world import APPROVER, APPROVER_EMAIL, RELAY_IDENTITY
from tests.served import filler, stream_post
from tests.slack_requests import block_actions, form, signed

PATHS = ("/slack/interactions", "/notifications/callbacks/slack", "/slack/commands")
FLOOD_BYTES = 64 * 1024 * 1024
PER_PATH = 8  # concurrent senders per endpoint: half declare a Content-Length, half send chunks
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TARGET_GROWTH_MIB, TARGET_FLOOD_SECONDS, TARGET_P99_MS = 50.0, 1.0, 50.0
MAX_FLOOD_SECONDS = 120.0  # the flood stops by itself after this, whatever happens to the clicks


@dataclass
class Flood:
    """Senders posting unsigned 64 MiB bodies back to back until told to stop (or MAX_FLOOD_SECONDS)."""

    url: str
    stop: Any
    started: Any
    answers: dict[str, list[float]] = field(default_factory=lambda: {"Content-Length": [], "chunked": []})
    statuses: set[int] = field(default_factory=set)
    cpu_seconds: float = 0.0

    def run(self, results: Any) -> None:
        """PER_PATH senders per Slack endpoint, in threads; `started` is set once each had an answer. The
        answer times and statuses go to the `results` queue at the end."""
        senders = PER_PATH * len(PATHS)
        with ThreadPoolExecutor(senders) as pool:
            running = [pool.submit(self.send, path, sender % 2 == 1) for path in PATHS
                       for sender in range(PER_PATH)]
            while not self.stop.is_set() and self.answered() < senders:
                self.stop.wait(0.01)
            self.started.set()
        for sender in running:
            sender.result()  # a sender that failed says why
        results.put((self.answers, self.statuses, time.process_time()))

    def send(self, path: str, chunked: bool) -> None:
        framing = "chunked" if chunked else "Content-Length"
        headers = FORM if chunked else {**FORM, "Content-Length": str(FLOOD_BYTES)}
        deadline = time.monotonic() + MAX_FLOOD_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            answer = stream_post(self.url, path, filler(FLOOD_BYTES), headers=headers, chunked=chunked,
                                 timeout=30)
            self.answers[framing].append(answer.seconds)
            self.statuses.add(answer.status)

    def answered(self) -> int:
        return sum(len(seconds) for seconds in self.answers.values())


@click.command()
@click.option("--clicks", default=50, show_default=True,
              help="Clicks answered at rest, and again under flood.")
@database_option
def main(clicks: int, database_url: str | None) -> None:
    """Time the same kind of click at rest and under the flood, sampling every worker's RSS throughout."""
    click.echo(machine_line())
    workers = gunicorn_options(Settings())["workers"]
    with workdir() as directory, FakeGate(identity=RELAY_IDENTITY) as gate, \
            running_relay(directory, database_url=database_url, slack_interval=0, relay_interval=0,
                          env=judgment_env(directory, gate)) as relay, requests.Session() as session:
        session.trust_env = False
        relay.slack.add_user(APPROVER, email=APPROVER_EMAIL)
        click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}; {clicks} clicks at rest, then "
                   f"{clicks} under {PER_PATH} concurrent unsigned {FLOOD_BYTES // 2**20} MiB bodies to each "
                   f"of {len(PATHS)} Slack endpoints")
        messages = judgment_messages(relay, gate, session, 2 * clicks)
        master = relay.server.pid
        at_rest = {pid: rss for pid, (role, rss) in settled(master, workers + 1).items()
                   if role == "gunicorn worker"}

        def clicked(batch: list[Message]) -> tuple[list[float], float, float]:
            cpu_before = _cpu_seconds(at_rest)
            with _Sampler(master, at_rest) as sampler:
                timings = _click_all(session, relay, batch)
            return timings, sampler.growth, _cpu_seconds(at_rest) - cpu_before

        rest_acks, rest_growth, rest_cpu = clicked(messages[:clicks])
        # The flood runs in a process of its own, so that its threads do not delay the clicks' timing here.
        context = multiprocessing.get_context("spawn")
        flood = Flood(relay.server.url, context.Event(), context.Event())
        results = context.Queue()
        flooding = context.Process(target=flood.run, args=(results,), daemon=True)
        flooding.start()
        try:
            if not flood.started.wait(60):
                raise SystemExit("the flood did not get under way")
            flood_acks, flood_growth, flood_cpu = clicked(messages[clicks:])
        finally:
            flood.stop.set()
        flood.answers, flood.statuses, flood.cpu_seconds = results.get(timeout=MAX_FLOOD_SECONDS)
        flooding.join()
    _report(rest_acks, flood_acks, flood, [["at rest (clicks only)", rest_growth, rest_cpu],
                                           ["under flood", flood_growth, flood_cpu]])


class _Sampler:
    """Every Gunicorn worker's RSS, sampled every 10 ms; `growth` is the largest rise over its RSS at rest."""

    def __init__(self, master: int, at_rest: dict[int, float]) -> None:
        self.master, self.at_rest, self.growth = master, at_rest, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            for pid, (_role, rss) in resident(self.master).items():
                if pid in self.at_rest:
                    self.growth = max(self.growth, rss - self.at_rest[pid])


def _click_all(session: requests.Session, relay, messages: list[Message]) -> list[float]:
    """Each message's first option clicked by the approver, signed; the ack times in ms."""
    timings = []
    for message in messages:
        raw = form(block_actions(message, "judgment.choose.0", user=APPROVER,
                                 trigger_id=relay.slack.issue_trigger(),
                                 response_url=relay.slack.new_response_url()))
        began = time.monotonic()
        response = session.post(relay.server.url + "/slack/interactions", data=raw, headers=signed(raw),
                                timeout=30)
        timings.append((time.monotonic() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"the relay answered a click with {response.status_code}: {response.text}")
    return timings


def _cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU time the processes used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def _report(rest: list[float], flooded: list[float], flood: Flood, phases: list[list[object]]) -> None:
    acks = (("at rest: click acked", rest), ("under flood: click acked", flooded))
    rows = [[name, len(values), percentile(values, 0.5), percentile(values, 0.9), percentile(values, 0.99),
             max(values)] for name, values in acks]
    for framing, seconds in flood.answers.items():
        ms = [value * 1000 for value in seconds]
        rows.append([f"flood, {framing}: answered", len(ms), percentile(ms, 0.5), percentile(ms, 0.9),
                     percentile(ms, 0.99), max(ms)])
    click.echo()
    click.echo(table(["measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows))
    click.echo()
    click.echo(table(["phase", "peak worker RSS growth MiB", "workers' CPU s"], phases))
    click.echo(f"CPU used by the flood's senders (same machine): {flood.cpu_seconds:.1f} s")
    flood_growth = phases[1][1]
    slowest = max(max(seconds) for seconds in flood.answers.values())
    p99 = percentile(flooded, 0.99)
    click.echo(f"\nflood answers: HTTP {sorted(flood.statuses)}")
    for ok, what in ((flood_growth < TARGET_GROWTH_MIB, f"peak growth under {TARGET_GROWTH_MIB:.0f} MiB"),
                     (slowest < TARGET_FLOOD_SECONDS, f"every flood request answered within "
                                                      f"{TARGET_FLOOD_SECONDS:.0f} s"),
                     (p99 < TARGET_P99_MS, f"click ack p99 under flood below {TARGET_P99_MS:.0f} ms")):
        click.echo(f"{'meets' if ok else 'misses'}: {what}")


if __name__ == "__main__":
    main()
