"""Webhook ingest: POST /echo/events throughput and latency, relay vs a parse-and-202 baseline, both under the
production Gunicorn config and loaded by wrk in the same run, for executions from 2 KB to 2 MB and on each
database given (`python -m bench.ingest`)."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from pathlib import Path

import click

from bench.harness import ECHO_TOKEN, running_baseline, running_relay, workdir
from bench.report import machine_line, table
from bench.workload import MIX, MIXES, NOTIFYING_SHARE, echo_mix, write_templates
from bench.wrk import WrkResult, require_wrk, run_wrk

TARGET_RATIO = 0.90  # relay throughput / baseline throughput, at least
TARGET_P99 = 1.5  # relay p99 / baseline p99, at most
WARMUP_SECONDS = 3.0
SQLITE = "sqlite"


@dataclass(frozen=True)
class Comparison:
    """The alternating runs of one event size on one database."""

    mix: str
    mean_bytes: float
    database: str
    baseline: list[WrkResult]
    relay: list[WrkResult]

    @property
    def ratio(self) -> float:
        """The median of the per-round throughput ratios: each round's two runs are back to back, so their
        ratio is the least disturbed by other load on the machine."""
        return statistics.median(r.requests_per_second / b.requests_per_second
                                 for b, r in zip(self.baseline, self.relay, strict=True))

    @property
    def p99_ratio(self) -> float:
        return _p99(self.relay) / _p99(self.baseline)

    @property
    def met(self) -> bool:
        return self.ratio >= TARGET_RATIO and self.p99_ratio <= TARGET_P99

    def row(self) -> list[object]:
        answers = f"{sum(r.accepted for r in self.relay):,} / {sum(r.ignored for r in self.relay):,} / " \
                  f"{sum(r.other + r.socket_errors for r in self.relay + self.baseline):,}"
        return [self.mix, self.mean_bytes / 1024, self.database, _rate(self.relay), _rate(self.baseline),
                f"{self.ratio:.0%}", _p99(self.relay), _p99(self.baseline), f"{self.p99_ratio:.2f}", answers]

    def verdict(self) -> str:
        rounds = ", ".join(f"{r.requests_per_second / b.requests_per_second:.0%}"
                           for b, r in zip(self.baseline, self.relay, strict=True))
        return (f"{self.mix} on {self.database}: relay/baseline {self.ratio:.0%} (rounds {rounds}), p99 "
                f"{self.p99_ratio:.2f}x: {'meets' if self.met else 'misses'} the targets")


@click.command()
@click.option("--duration", default=8.0, show_default=True, help="Seconds of load per measured run.")
@click.option("--rounds", default=5, show_default=True,
              help="Alternating baseline/relay runs; medians are shown.")
@click.option("--connections", default=32, show_default=True, help="wrk connections.")
@click.option("--mix", "mixes", multiple=True, type=click.Choice(list(MIXES)), default=list(MIXES),
              show_default=True, help="Which executions the events carry (the size sweep).")
@click.option("--database-url", "databases", multiple=True, default=[SQLITE], show_default=True,
              help=f"An empty database for the relay, repeatable; `{SQLITE}` is a fresh SQLite file.")
def main(duration: float, rounds: int, connections: int, mixes: tuple[str, ...],
         databases: tuple[str, ...]) -> None:
    """Measure events per second and p99 latency for the relay and the baseline, per size and database."""
    require_wrk()
    click.echo(machine_line())
    click.echo(f"load: wrk, 1 thread, {connections} connections, {rounds} x {duration:g}s per app, size and "
               f"database; events per 100: {MIX} ({NOTIFYING_SHARE:.0%} notify)")
    load = {"duration": duration, "connections": connections, "rounds": rounds}
    comparisons = []
    with workdir() as directory, running_baseline(directory) as baseline:
        sizes = {mix: write_templates(echo_mix(mix, channel="#deploys"), directory / mix) for mix in mixes}
        for number, database in enumerate(databases):
            relay_dir = directory / f"relay-{number}"
            relay_dir.mkdir()
            with running_relay(relay_dir, database_url=None if database == SQLITE else database) as relay:
                name = relay.database_url.split(":", 1)[0].split("+")[0]
                urls = {"baseline": baseline.url + "/echo/events", "relay": relay.events_url}
                for mix, mean_bytes in sizes.items():
                    results = _alternate(urls, directory / mix, **load)
                    comparisons.append(Comparison(mix, mean_bytes, name, results["baseline"],
                                                  results["relay"]))
                    click.echo(comparisons[-1].verdict())
    click.echo()
    headers = ["size", "body KB", "database", "relay req/s", "baseline req/s", "relay/baseline",
               "relay p99 ms", "baseline p99 ms", "p99 ratio", "relay 202 / 200 / errors"]
    click.echo(table(headers, [c.row() for c in comparisons]))
    click.echo(f"\ntargets: relay/baseline >= {TARGET_RATIO:.0%}, p99 ratio <= {TARGET_P99:g}; "
               f"{sum(c.met for c in comparisons)} of {len(comparisons)} met")


def _alternate(urls: dict[str, str], events_dir: Path, *, duration: float, connections: int,
               rounds: int) -> dict[str, list[WrkResult]]:
    """Warm both apps up, then run them in turn, swapping which goes first each round."""
    nonce = uuid.uuid4().hex[:8]  # event ids never repeat those of an earlier run on the same database
    for name, url in urls.items():
        run_wrk(url, events_dir=events_dir, run_id=f"{nonce}-warmup-{name}", token=ECHO_TOKEN,
                duration=WARMUP_SECONDS, connections=connections)
    results: dict[str, list[WrkResult]] = {name: [] for name in urls}
    for round_number in range(rounds):
        order = list(urls) if round_number % 2 == 0 else list(reversed(urls))
        for name in order:
            results[name].append(run_wrk(urls[name], events_dir=events_dir, token=ECHO_TOKEN,
                                         run_id=f"{nonce}-{name}-{round_number}", duration=duration,
                                         connections=connections))
    return results


def _rate(runs: list[WrkResult]) -> float:
    return statistics.median(run.requests_per_second for run in runs)


def _p99(runs: list[WrkResult]) -> float:
    return statistics.median(run.latency_ms[99] for run in runs)


if __name__ == "__main__":
    main()
