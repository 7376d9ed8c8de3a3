"""Wait-time analytics with no I/O: nearest-rank percentiles, groups per application, approver and week, and
the SVG chart."""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ElementTree

import pytest

from relay.analytics.chart import wait_chart
from relay.analytics.waits import Summary, percentile, summaries
from relay.store import Wait

MONDAY = calendar.timegm((2026, 11, 30, 0, 0, 0))


@pytest.mark.parametrize(("values", "percent", "expected"), [
    ([5.0], 50, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
    (list(map(float, range(1, 101))), 90, 90.0), ([10.0, 1.0, 7.0], 50, 7.0)])
def test_analytics_percentile_is_nearest_rank(values: list[float], percent: int, expected: float) -> None:
    assert percentile(values, percent) == expected


def test_analytics_groups_by_application_approver_and_week() -> None:
    waits = [Wait("payments", "alice@example.com", "continued", 60.0, MONDAY + 10),
             Wait("payments", None, "expired", 600.0, MONDAY - 10),
             Wait(None, "alice@example.com", "stopped", 120.0, MONDAY + 6 * 86400 + 86399)]
    grouped = summaries(waits)
    assert [(s.name, s.count, s.p50, s.max) for s in grouped["application"]] == [
        ("payments", 2, 60.0, 600.0), ("unknown", 1, 120.0, 120.0)]
    assert [(s.name, s.count) for s in grouped["approver"]] == [
        ("alice@example.com", 2), ("nobody (expired)", 1)]
    assert [(s.name, s.count) for s in grouped["week"]] == [("2026-11-23", 1), ("2026-11-30", 2)]


@pytest.mark.parametrize("offset", [0, 3 * 86400, 7 * 86400 - 1])
def test_analytics_week_is_named_by_its_monday(offset: int) -> None:
    waits = [Wait("app", None, "expired", 1.0, MONDAY + offset),
             Wait("app", None, "expired", 1.0, MONDAY - 1)]
    assert [week.name for week in summaries(waits)["week"]] == ["2026-11-23", "2026-11-30"]


def test_analytics_chart_draws_both_series_within_the_frame() -> None:
    weeks = [Summary(f"2026-11-{day:02}", 3, 3600.0 * n, 7200.0 * n, 9000.0 * n)
             for n, day in enumerate((2, 9, 16, 23), start=1)]
    svg = ElementTree.fromstring(wait_chart(weeks))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    lines = svg.findall("svg:polyline", ns)
    assert [line.get("class") for line in lines] == ["series series-p50", "series series-p90"]
    for line in lines:
        points = [tuple(map(float, point.split(","))) for point in line.get("points").split()]
        assert len(points) == 4 and all(0 <= x <= 720 and 0 <= y <= 280 for x, y in points)
        assert points == sorted(points, key=lambda p: p[0])  # weeks left to right
        assert points[0][1] > points[-1][1]  # longer waits drawn higher
    assert "style" not in wait_chart(weeks) and "<script" not in wait_chart(weeks)


def test_analytics_chart_says_when_nothing_ended() -> None:
    assert "No judgment ended in this period" in wait_chart([])
