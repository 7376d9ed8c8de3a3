"""Wait-time summaries: nearest-rank percentiles of ended waits, grouped by application, approver or week."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from relay.store import Wait

WEEK = 7 * 24 * 3600.0
NOBODY = "nobody (expired)"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Summary:
    """How long the waits of one group lasted, in seconds."""

    name: str
    count: int
    p50: float
    p90: float
    max: float


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value at least `percent`% of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def summarize(waits: Iterable[Wait], key: Callable[[Wait], str]) -> list[Summary]:
    """One summary per group `key` names, sorted by group."""
    groups: dict[str, list[float]] = {}
    for wait in waits:
        groups.setdefault(key(wait), []).append(wait.seconds)
    summaries = []
    for name, values in sorted(groups.items()):
        values.sort()
        summaries.append(Summary(name, len(values), percentile(values, 50), percentile(values, 90),
                                 values[-1]))
    return summaries


def by_application(waits: Iterable[Wait]) -> list[Summary]:
    return summarize(waits, lambda wait: wait.application or UNKNOWN)


def by_approver(waits: Iterable[Wait]) -> list[Summary]:
    """Per whoever decided; an expired judgment counts for nobody."""
    return summarize(waits, lambda wait: wait.judge or NOBODY)


def by_week(waits: Iterable[Wait]) -> list[Summary]:
    """Per UTC week (named by its Monday, YYYY-MM-DD) in which the wait ended, oldest first."""
    return summarize(waits, lambda wait: week_of(wait.ended_at))


def week_of(epoch: float) -> str:
    """The Monday (UTC) starting the week of `epoch`, as YYYY-MM-DD."""
    day = time.gmtime(epoch)
    return time.strftime("%Y-%m-%d", time.gmtime(epoch - day.tm_wday * 86400))
