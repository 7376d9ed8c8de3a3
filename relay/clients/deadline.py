"""A deadline for the work a thread is doing: each outgoing call's timeout is cut to what is left of it (and
to a short grace once the worker is stopping); no call starts once either has passed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


class DeadlinePassed(TimeoutError):
    """The work's deadline passed (or its worker's grace to stop) before a call could start."""


class Stopping:
    """Set when a worker begins to stop: from then on, work in flight has `grace` seconds left at most."""

    def __init__(self, *, grace: float) -> None:
        self.grace = grace
        self.ends_at: float | None = None

    def set(self) -> None:
        if self.ends_at is None:
            self.ends_at = time.monotonic() + self.grace

    def clear(self) -> None:
        self.ends_at = None

    def is_set(self) -> bool:
        return self.ends_at is not None


@contextmanager
def deadline(seconds: float, *, stopping: Stopping | None = None) -> Iterator[None]:
    """Calls made by this thread inside the block must end within `seconds` of entering it, and within the
    grace `stopping` gives once it is set."""
    previous = getattr(_local, "ends_at", None), getattr(_local, "stopping", None)
    _local.ends_at, _local.stopping = time.monotonic() + seconds, stopping
    try:
        yield
    finally:
        _local.ends_at, _local.stopping = previous


def bounded(timeout: float) -> float:
    """`timeout`, or less when the thread's deadline is nearer; DeadlinePassed once it has passed."""
    ends_at = getattr(_local, "ends_at", None)
    stopping = getattr(_local, "stopping", None)
    if stopping is not None and stopping.ends_at is not None and stopping.ends_at < (ends_at or float("inf")):
        ends_at, why = stopping.ends_at, "the worker is stopping"
    else:
        why = "the work's deadline passed"
    if ends_at is None:
        return timeout
    left = ends_at - time.monotonic()
    if left <= 0:
        raise DeadlinePassed(why)
    return min(timeout, left)
