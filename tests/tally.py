"""Fault tests' bookkeeping: which runs the relay accepted, and what of them reached the fake Slack."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tests import events
from tests.fakes import FakeSlack

RUN_ID = re.compile(r"fault-run-\d{4}")


def run_id(number: int) -> str:
    """A run id that no other run id contains, so a message names exactly one run."""
    return f"fault-run-{number:04d}"


def run_started(number: int, channel: str) -> dict:
    """`orca:pipeline:starting` for a run of its own, notifying `channel` once."""
    run = events.execution(id=run_id(number), notifications=[
        {"type": "slack", "address": channel, "level": "pipeline", "when": ["pipeline.starting"]}])
    return events.pipeline_event("starting", run, event_id=f"fault-event-{number:04d}")


@dataclass(frozen=True)
class Tally:
    """Accepted runs against the messages Slack holds for them."""

    accepted: int
    delivered: int
    duplicates: int
    lost: int
    lost_runs: tuple[str, ...]

    def line(self) -> str:
        return (f"accepted {self.accepted}, delivered {self.delivered}, duplicates {self.duplicates}, "
                f"lost {self.lost}")


def tally(slack: FakeSlack, accepted: dict[str, str]) -> Tally:
    """`accepted` maps run ids to their channel; each should have exactly one top-level message there."""
    found = Counter(run for channel in set(accepted.values()) for run in runs_in(slack, channel))
    lost = tuple(sorted(run for run in accepted if not found[run]))
    delivered = sum(1 for run in accepted if found[run])
    duplicates = sum(found[run] - 1 for run in accepted if found[run] > 1)
    return Tally(len(accepted), delivered, duplicates, len(lost), lost)


def runs_in(slack: FakeSlack, channel: str) -> Iterable[str]:
    """The run id each top-level message of `channel` is about."""
    for message in slack.messages(channel):
        match = RUN_ID.search(json.dumps(message.blocks))
        if match:
            yield match.group()


def all_delivered(slack: FakeSlack, accepted: dict[str, str]) -> bool:
    return tally(slack, accepted).lost == 0
