"""Event-to-Slack latency: from posting an Echo event to the relay until its message reaches the fake Slack,
when nothing is rate-limited (`python -m bench.latency`)."""

from __future__ import annotations

import time

import click
import requests
from slack_sdk import WebClient

from bench.harness import HEADERS, database_option, running_relay, warm_up, workdir
from bench.report import machine_line, percentile, table
from bench.workload import MIXES, body, run_for
from tests import events

TARGET_P50_MS = 200.0


@click.command()
@click.option("--events", "count", default=200, show_default=True, help="Events to time.")
@click.option("--rate", default=10.0, show_default=True, help="Events posted per second.")
@click.option("--mix", default="full", show_default=True, type=click.Choice(list(MIXES)),
              help="Which execution the events carry.")
@database_option
def main(count: int, rate: float, mix: str, database_url: str | None) -> None:
    """Post `count` pipeline-starting events, each notifying a channel of its own (so Slack's per-channel
    pacing never applies), and time each until its chat.postMessage arrives."""
    click.echo(machine_line())
    with workdir() as directory, running_relay(directory, database_url=database_url) as relay, \
            requests.Session() as session:
        session.trust_env = False
        click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}; {count} events at {rate:g}/s, "
                   f"{mix} executions")
        direct = _direct_posts(relay.slack, count)
        warm_up(relay)
        sent_at, answer_ms = {}, []
        start = time.monotonic()
        for number in range(count):
            channel = f"#latency-{number:04d}"
            data = body(events.pipeline_event("starting", run_for(mix, channel=channel)),
                        event_id=f"latency-{number}", run_id=f"latency-run-{number}")
            _pace(start + number / rate)
            sent_at[channel] = time.monotonic()
            response = session.post(relay.events_url, data=data, headers=HEADERS, timeout=30)
            answer_ms.append((time.monotonic() - sent_at[channel]) * 1000)
            if response.status_code != 202:
                raise SystemExit(f"the relay answered {response.status_code}: {response.text}")
        relay.slack.wait_for(lambda: len(_posted_at(relay.slack, sent_at)) == count, timeout=60,
                             description=f"{count} messages")
        posted_at = _posted_at(relay.slack, sent_at)
        delivered_ms = [(posted_at[channel] - sent_at[channel]) * 1000 for channel in sent_at]
    rows = [["relay: event -> message on Slack", *_percentiles(delivered_ms)],
            ["relay: webhook answered (202)", *_percentiles(answer_ms)],
            ["baseline: chat.postMessage from the client", *_percentiles(direct)]]
    click.echo()
    click.echo(table(["measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows))
    p50 = percentile(delivered_ms, 0.5)
    click.echo(f"\nevent-to-Slack p50 {p50:.0f} ms ({'meets' if p50 < TARGET_P50_MS else 'misses'} the "
               f"{TARGET_P50_MS:.0f} ms target)")


def _direct_posts(slack, count: int) -> list[float]:
    """The floor: the same chat.postMessage sent straight from a WebClient, timed end to end."""
    client = WebClient(token=slack.token, base_url=slack.api_url)
    timings = []
    for number in range(count):
        began = time.monotonic()
        client.chat_postMessage(channel=f"#direct-{number:04d}", text="baseline")
        timings.append((time.monotonic() - began) * 1000)
    return timings


def _posted_at(slack, channels: dict[str, float]) -> dict[str, float]:
    """When each channel's first chat.postMessage arrived (the fake's monotonic clock, shared with ours)."""
    first: dict[str, float] = {}
    for call in slack.calls_to("chat.postMessage"):
        channel = call.params.get("channel")
        if channel in channels and channel not in first:
            first[channel] = call.at
    return first


def _pace(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # an open-loop load generator keeping its schedule


def _percentiles(values: list[float]) -> list[object]:
    return [len(values), *(percentile(values, fraction) for fraction in (0.5, 0.9, 0.99)), max(values)]


if __name__ == "__main__":
    main()
