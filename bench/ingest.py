"""Webhook ingest: POST /echo/events throughput and latency, relay vs a parse-and-202 baseline, both under the
production Gunicorn config and loaded by wrk in the same run (`python -m bench.ingest`)."""

from __future__ import annotations

import statistics

import click

from bench.harness import ECHO_TOKEN, database_option, running_baseline, running_relay, workdir
from bench.report import machine_line, table
from bench.workload import MIX, MIXES, NOTIFYING_SHARE, echo_mix, write_templates
from bench.wrk import WrkResult, require_wrk, run_wrk

TARGET_RATIO = 0.70
WARMUP_SECONDS = 3.0


@click.command()
@click.option("--duration", default=8.0, show_default=True, help="Seconds of load per measured run.")
@click.option("--rounds", default=5, show_default=True,
              help="Alternating baseline/relay runs; medians are shown.")
@click.option("--connections", default=32, show_default=True, help="wrk connections.")
@click.option("--mix", "mixes", multiple=True, type=click.Choice(list(MIXES)), default=list(MIXES),
              show_default=True, help="Which executions the events carry.")
@database_option
def main(duration: float, rounds: int, connections: int, mixes: tuple[str, ...],
         database_url: str | None) -> None:
    """Measure events per second and latency percentiles for the relay and the baseline."""
    require_wrk()
    click.echo(machine_line())
    click.echo(f"load: wrk, 1 thread, {connections} connections, {rounds} x {duration:g}s per app and mix; "
               f"events per 100: {MIX} ({NOTIFYING_SHARE:.0%} notify)")
    rows, verdicts = [], []
    with workdir() as directory, running_baseline(directory) as baseline, \
            running_relay(directory, database_url=database_url) as relay:
        click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}")
        targets = {"baseline": baseline.url + "/echo/events", "relay": relay.events_url}
        for mix in mixes:
            events_dir = directory / mix
            mean_bytes = write_templates(echo_mix(mix, channel="#deploys"), events_dir)
            for name, url in targets.items():
                run_wrk(url, events_dir=events_dir, run_id=f"warmup-{mix}-{name}", token=ECHO_TOKEN,
                        duration=WARMUP_SECONDS, connections=connections)
            results: dict[str, list[WrkResult]] = {name: [] for name in targets}
            for round_number in range(rounds):
                for name, url in targets.items():
                    results[name].append(run_wrk(
                        url, events_dir=events_dir, run_id=f"{mix}-{name}-{round_number}", token=ECHO_TOKEN,
                        duration=duration, connections=connections))
            for name, runs in results.items():
                rows.append(_row(mix, mean_bytes, name, runs))
            # Each round's two runs are back to back, so their ratio is the least disturbed by other load.
            ratios = [relay_run.requests_per_second / baseline_run.requests_per_second
                      for baseline_run, relay_run in zip(results["baseline"], results["relay"], strict=True)]
            ratio = statistics.median(ratios)
            verdict = "meets" if ratio >= TARGET_RATIO else "misses"
            rounds_text = ", ".join(f"{r:.0%}" for r in ratios)
            verdicts.append(f"{mix}: relay/baseline throughput = {ratio:.0%}, median of rounds {rounds_text} "
                            f"({verdict} the {TARGET_RATIO:.0%} target)")
    click.echo()
    headers = ["mix", "body KB", "app", "req/s", "p50 ms", "p90 ms", "p99 ms", "202", "200", "errors"]
    click.echo(table(headers, rows))
    click.echo()
    for verdict in verdicts:
        click.echo(verdict)


def _median(runs: list[WrkResult]) -> float:
    return statistics.median(run.requests_per_second for run in runs)


def _row(mix: str, mean_bytes: float, name: str, runs: list[WrkResult]) -> list[object]:
    middle = sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]
    return [mix, mean_bytes / 1024, name, _median(runs), middle.latency_ms[50], middle.latency_ms[90],
            middle.latency_ms[99], sum(r.accepted for r in runs), sum(r.ignored for r in runs),
            sum(r.other + r.socket_errors for r in runs)]


if __name__ == "__main__":
    main()
