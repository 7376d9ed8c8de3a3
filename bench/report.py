"""What every benchmark prints: the machine it ran on, percentiles, and aligned tables."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence

from relay.config import Settings
from relay.serving import gunicorn_options


def machine_line() -> str:
    """CPU count and runtime, so figures from different machines can be compared."""
    options = gunicorn_options(Settings())
    return (f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
            f"Gunicorn {options['workers']} workers x {options['threads']} threads "
            f"({options['worker_class']})")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 for p50, 0.99 for p99)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(value.ljust(widths[i]) if i == 0 else value.rjust(widths[i])
                         for i, value in enumerate(row))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(row) for row in cells[1:]])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
