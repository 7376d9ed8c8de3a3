"""A line chart of weekly wait times (p50 and p90) as SVG markup, drawn on the server: no script, and
colours set by presentation attributes and CSS classes, so a strict Content-Security-Policy allows it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from relay.analytics.waits import Summary

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
# Units to label the wait axis with, largest first: the first the longest wait reaches is used.
UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "m"), (1.0, "s"))
SERIES = (("p50", "#2f6fdf"), ("p90", "#d9822b"))


def wait_chart(weeks: Sequence[Summary]) -> str:
    """An SVG of each week's p50 and p90 waits (weeks oldest first); a note when there are none."""
    title = "Time to decision per week: p50 and p90"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label={quoteattr(title)}>',
             f"<title>{escape(title)}</title>"]
    if not weeks:
        parts.append(f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" class="chart-empty">'
                     "No judgment ended in this period</text></svg>")
        return "".join(parts)
    top = max(week.p90 for week in weeks) or 1.0
    unit, suffix = next(((size, name) for size, name in UNITS if top >= size), UNITS[-1])
    ceiling, intervals = _nice_ceiling(top / unit)
    ceiling *= unit
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (len(weeks) - 1) if len(weeks) > 1 else plot_w / 2)

    def y(seconds: float) -> float:
        return TOP + plot_h * (1 - seconds / ceiling)

    for step in range(intervals + 1):
        value = ceiling * step / intervals
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#d8dde6" stroke-width="1"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#4a5261">{_number(value / unit)} {suffix}</text>')
    label_every = max(1, math.ceil(len(weeks) / 8))
    for index, week in enumerate(weeks):
        if index % label_every == 0 or index == len(weeks) - 1:
            parts.append(f'<text class="axis" x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 18}" '
                         f'text-anchor="middle" font-size="11" fill="#4a5261">{escape(week.name[5:])}</text>')
    for name, colour in SERIES:
        points = " ".join(f"{x(i):.1f},{y(getattr(week, name)):.1f}" for i, week in enumerate(weeks))
        parts.append(f'<polyline class="series series-{name}" points="{points}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"/>')
        for index, week in enumerate(weeks):
            value = getattr(week, name)
            parts.append(f'<circle class="point" cx="{x(index):.1f}" cy="{y(value):.1f}" r="3" '
                         f'fill="{colour}"><title>{escape(f"week of {week.name}: {name} ")}'
                         f'{_number(value / unit)} {suffix} ({week.count} judgments)</title></circle>')
    for index, (name, colour) in enumerate(SERIES):
        left = LEFT + index * 80
        parts.append(f'<rect x="{left}" y="{HEIGHT - 16}" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{left + 16}" y="{HEIGHT - 11}" font-size="11" fill="#4a5261">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(value: float) -> tuple[float, int]:
    """The smallest of 1, 2, 4, 5 times a power of ten that is at least `value`, and how many gridlines
    divide it into round steps."""
    magnitude = 10 ** math.floor(math.log10(value)) if value > 0 else 1
    return next((step * magnitude, intervals) for step, intervals in ((1, 5), (2, 4), (4, 4), (5, 5), (10, 5))
                if step * magnitude >= value)


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")
