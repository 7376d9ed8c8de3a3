"""Burst: many events for one channel at once, all to reach Slack at its pace (`python -m bench.burst`)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import click

from bench.harness import database_option, post_all, running_relay, workdir
from bench.report import machine_line, table
from bench.workload import body, run_for
from tests import events

CHANNEL = "#burst"
RUN_ID = re.compile(r"burst-run-\d+")


@click.command()
@click.option("--events", "count", default=500, show_default=True, help="Events in the burst.")
@click.option("--interval", default=1.0, show_default=True,
              help="Seconds between posts to one channel, for Slack (the fake) and the relay alike.")
@click.option("--senders", default=8, show_default=True, help="Concurrent connections posting the burst.")
@database_option
def main(count: int, interval: float, senders: int, database_url: str | None) -> None:
    """Post `count` pipeline-starting events of different runs, all notifying one channel, as fast as the
    relay takes them; wait until every message is in Slack."""
    click.echo(machine_line())
    with workdir() as directory, running_relay(directory, database_url=database_url, slack_interval=interval,
                                                relay_interval=interval) as relay:
        click.echo(f"relay database: {relay.database_url.split(':', 1)[0]}; {count} events to {CHANNEL}, "
                   f"Slack and the relay pacing one post per {interval:g}s per channel")
        bodies = [body(events.pipeline_event("starting", run_for("small", channel=CHANNEL)),
                       event_id=f"burst-{number}", run_id=f"burst-run-{number}") for number in range(count)]
        started = time.monotonic()
        statuses = post_all(relay.events_url, bodies, senders=senders)
        accepted_in = time.monotonic() - started
        accepted = statuses.count(202)
        relay.slack.wait_for(lambda: len(relay.slack.messages(CHANNEL)) >= accepted,
                             timeout=count * interval * 3 + 60, description=f"{accepted} messages")
        drained_in = relay.slack.calls_to("chat.postMessage")[-1].at - started
        messages = relay.slack.messages(CHANNEL)
        runs = Counter(RUN_ID.search(json.dumps(message.blocks)).group() for message in messages)
        duplicates = sum(n - 1 for n in runs.values())
        rate_limited = relay.slack.rate_limited
    floor = (count - 1) * interval
    click.echo()
    click.echo(table(["measure", "relay", "baseline"], [
        ["events accepted (202)", accepted, count],
        ["seconds to accept the burst", accepted_in, "-"],
        ["messages delivered", len(messages), count],
        ["duplicate messages", duplicates, 0],
        ["429s from Slack", rate_limited, 0],
        ["seconds to drain", drained_in, floor],
        ["messages per second", len(messages) / drained_in, 1 / interval],
    ]))
    if floor:
        click.echo(f"\nbaseline: at Slack's limit of one post per {interval:g}s, {count} messages drain in "
                   f"{floor:g}s at best; the relay took {drained_in / floor:.0%} of that")


if __name__ == "__main__":
    main()
