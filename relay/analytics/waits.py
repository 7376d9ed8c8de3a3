"""Wait-time summaries: nearest-rank percentiles of ended waits, grouped by application, approver or week."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from relay.store import Wait

DAY = 24 * 3600.0
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


def summarize(values_by_name: dict[str, list[float]]) -> list[Summary]:
    """One summary per group of waits, sorted by the group's name."""
    summaries = []
    for name, values in sorted(values_by_name.items()):
        values.sort()
        summaries.append(Summary(name, len(values), percentile(values, 50), percentile(values, 90),
                                 values[-1]))
    return summaries


def summaries(waits: Iterable[Wait]) -> dict[str, list[Summary]]:
    """The waits summarized per application, per approver (an expired judgment counts for nobody) and per
    UTC week in which they ended (named by its Monday, YYYY-MM-DD, oldest first), in one pass."""
    applications: dict[str, list[float]] = {}
    approvers: dict[str, list[float]] = {}
    weeks: dict[int, list[float]] = {}
    for wait in waits:
        applications.setdefault(wait.application or UNKNOWN, []).append(wait.seconds)
        approvers.setdefault(wait.judge or NOBODY, []).append(wait.seconds)
        day = int(wait.ended_at // DAY)
        weeks.setdefault(day - (day + 3) % 7, []).append(wait.seconds)  # 1970-01-01 was a Thursday
    return {"application": summarize(applications), "approver": summarize(approvers),
            "week": summarize({_date(monday): values for monday, values in weeks.items()})}


def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))
