"""JobRetry: how a job asks to run again later, counted as an attempt and kept in the store."""

from __future__ import annotations


class JobRetry(Exception):
    """Raised by a job handler to be run again after `delay` seconds (counts as an attempt)."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay
