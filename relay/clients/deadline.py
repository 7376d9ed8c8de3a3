"""A deadline for the work a thread is doing: each outgoing call's timeout is cut to what is left of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


class DeadlinePassed(Exception):
    """The work's deadline passed before a call could start."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls made by this thread inside the block must end within `seconds` of entering it."""
    previous = getattr(_local, "ends_at", None)
    _local.ends_at = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.ends_at = previous


def bounded(timeout: float) -> float:
    """`timeout`, or less when the thread's deadline is nearer; DeadlinePassed once it has passed."""
    ends_at = getattr(_local, "ends_at", None)
    if ends_at is None:
        return timeout
    left = ends_at - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the work's deadline passed")
    return min(timeout, left)
