"""Fan-out to many channels: run-starting events over 50 channels while Slack answers every call in 300 ms
and allows one post a second per channel, with one and with two worker processes (`python -m bench.fanout`).
"""

from __future__ import annotations

import time

import click

from bench.harness import database_option, post_all, running_relay, warm_up, workdir
from bench.report import machine_line, table
from bench.workload import body, run_for
from tests import events

SLACK_LATENCY = 0.3
TARGET_SHARE = 0.8  # of the posts a second Slack allows over all the channels


@click.command()
@click.option("--events", "count", default=500, show_default=True, help="Run-starting events to send.")
@click.option("--channels", default=50, show_default=True, help="Channels the events are spread over.")
@database_option
def main(count: int, channels: int, database_url: str | None) -> None:
    """Queue every event at once, then time until the last message reaches the fake Slack; the baseline is
    the same load through a worker with one delivery thread."""
    click.echo(machine_line())
    click.echo(f"{count} events over {channels} channels; Slack answers in {SLACK_LATENCY * 1000:.0f} ms and "
               f"allows 1 post/s per channel, {channels}/s in all")
    # The relay counts a channel's interval from when its last request was sent (plus a small margin), so a
    # channel takes a post about every second however long Slack takes to answer.
    setups = [("relay: 1 worker process", 0, {}), ("relay: 2 worker processes", 1, {}),
              ("baseline: 1 worker, 1 delivery thread", 0, {"RELAY_DELIVERY_CONCURRENCY": "1"})]
    rows = []
    for number, (name, workers, env) in enumerate(setups):
        with workdir() as directory, running_relay(directory, database_url=database_url,
                                                   slack_latency=SLACK_LATENCY, workers=workers,
                                                   env=env) as relay:
            warm_up(relay)
            seconds = _fan_out(relay, count, channels, prefix=f"fanout{number}")
            rows.append([name, count, seconds, count / seconds, relay.slack.rate_limited])
    click.echo()
    click.echo(table(["setup", "messages", "seconds", "messages/s", "429s"], rows))
    target = TARGET_SHARE * channels
    rate = rows[0][3]
    click.echo(f"\none worker process: {rate:.1f} messages/s ({'meets' if rate >= target else 'misses'} the "
               f"{target:.0f}/s target)")


def _fan_out(relay, count: int, channels: int, *, prefix: str) -> float:
    """Seconds from the first event posted until the last of their messages is in Slack."""
    names = [f"#{prefix}-{number % channels:02d}" for number in range(count)]
    bodies = [body(events.pipeline_event("starting", run_for("small", channel=channel)),
                   event_id=f"{prefix}-{number}", run_id=f"{prefix}-run-{number}")
              for number, channel in enumerate(names)]
    started = time.monotonic()
    statuses = post_all(relay.events_url, bodies, senders=8)
    if set(statuses) != {202}:
        raise SystemExit(f"the relay answered {sorted(set(statuses))}")
    wanted = set(names)

    def delivered() -> bool:
        return sum(len(relay.slack.messages(channel)) for channel in wanted) >= count

    relay.slack.wait_for(delivered, timeout=60 + count, description=f"{count} messages")
    last = max(call.at for call in relay.slack.calls_to("chat.postMessage"))
    return last - started


if __name__ == "__main__":
    main()
