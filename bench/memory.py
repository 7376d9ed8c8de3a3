"""Memory: resident set size of each Gunicorn worker at rest and after 10,000 events, relay vs the baseline
app (`python -m bench.memory`)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import click

from bench.harness import database_option, post_all, running_baseline, running_relay, warm_up, workdir
from bench.report import machine_line, table
from bench.workload import MIXES, body, echo_mix
from relay.config import Settings
from relay.serving import gunicorn_options

SENDERS = 16


@click.command()
@click.option("--events", "count", default=10_000, show_default=True, help="Events posted to each app.")
@click.option("--mix", default="full", show_default=True, type=click.Choice(list(MIXES)),
              help="Which executions the events carry.")
@database_option
def main(count: int, mix: str, database_url: str | None) -> None:
    """Measure RSS of every Gunicorn worker (and the relay's dispatcher) before and after the load."""
    click.echo(machine_line())
    workers = gunicorn_options(Settings())["workers"]
    batch = echo_mix(mix, channel="#deploys")
    rows = []
    with workdir() as directory:
        with running_baseline(directory) as baseline:
            rows += _measure("baseline", baseline.url + "/echo/events", baseline.pid, batch, count, workers)
        with running_relay(directory, database_url=database_url) as relay:
            click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}; {count:,} events of the "
                       f"{mix} mix per app, {SENDERS} connections")
            warm_up(relay)
            rows += _measure("relay", relay.events_url, relay.server.pid, batch, count, workers + 1)
    click.echo()
    click.echo(table(["app", "process", "at rest MiB", f"after {count:,} events MiB", "growth MiB"], rows))


def _measure(name: str, url: str, master: int, batch: list[dict[str, Any]], count: int,
             processes: int) -> list[list[object]]:
    at_rest = settled(master, processes)
    bodies = (body(batch[n % len(batch)], event_id=f"memory-{n}", run_id=f"memory-run-{n // len(batch)}")
              for n in range(count))
    failed = [status for status in post_all(url, bodies, senders=SENDERS) if status not in (200, 202)]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} of {count} events failed ({sorted(set(failed))})")
    after = resident(master)
    rows = []
    for role in ("gunicorn worker", "dispatcher"):
        pids = [pid for pid, (kind, _) in at_rest.items() if kind == role and pid in after]
        for pid in pids:
            before_mib, after_mib = at_rest[pid][1], after[pid][1]
            rows.append([name, f"{role} {pid}", before_mib, after_mib, after_mib - before_mib])
        if role == "gunicorn worker" and pids:
            mean_before = statistics.mean(at_rest[pid][1] for pid in pids)
            mean_after = statistics.mean(after[pid][1] for pid in pids)
            rows.append([name, "gunicorn worker, mean", mean_before, mean_after, mean_after - mean_before])
    return rows


def settled(master: int, processes: int) -> dict[int, tuple[str, float]]:
    """RSS once all `processes` children run and none changed over half a second (imports are done)."""
    deadline = time.monotonic() + 60
    previous: dict[int, tuple[str, float]] = {}
    while True:
        current = resident(master)
        if len(current) == processes and current == previous:
            return current
        if time.monotonic() > deadline:
            raise SystemExit(f"the processes of {master} did not settle: {current}")
        previous = current
        time.sleep(0.5)  # the interval over which "at rest" is judged


def resident(master: int) -> dict[int, tuple[str, float]]:
    """The master's children as {pid: (role, RSS in MiB)}; the dispatcher is the `worker` command."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        role = "dispatcher" if b"worker" in command else "gunicorn worker"
        found[pid] = (role, _rss_mib(pid))
    return found


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


if __name__ == "__main__":
    main()
