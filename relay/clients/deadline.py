"""A deadline for the work a thread is doing: each outgoing call's timeout is cut to what is left of it, and
no call starts once it has passed or the worker is stopping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


class DeadlinePassed(TimeoutError):
    """The work's deadline passed (or its worker is stopping) before a call could start."""


@contextmanager
def deadline(seconds: float, *, stopping: threading.Event | None = None) -> Iterator[None]:
    """Calls made by this thread inside the block must end within `seconds` of entering it; none starts
    once `stopping` is set (the call in flight then is the work's last)."""
    previous = getattr(_local, "ends_at", None), getattr(_local, "stopping", None)
    _local.ends_at, _local.stopping = time.monotonic() + seconds, stopping
    try:
        yield
    finally:
        _local.ends_at, _local.stopping = previous


def bounded(timeout: float) -> float:
    """`timeout`, or less when the thread's deadline is nearer; DeadlinePassed once it has passed."""
    stopping = getattr(_local, "stopping", None)
    if stopping is not None and stopping.is_set():
        raise DeadlinePassed("the worker is stopping")
    ends_at = getattr(_local, "ends_at", None)
    if ends_at is None:
        return timeout
    left = ends_at - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the work's deadline passed")
    return min(timeout, left)
