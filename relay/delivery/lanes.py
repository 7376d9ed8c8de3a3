"""A lane: a bounded pool of threads for one kind of work (Slack deliveries, or jobs) and how full it is."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Lane:
    """Runs work on at most `threads` threads. Work is handed over only while a thread is free (`free()`),
    so nothing waits inside the pool: what is leased is started at once."""

    def __init__(self, name: str, *, threads: int, on_free: Callable[[], None]) -> None:
        self.name = name
        self.threads = threads
        self.on_free = on_free
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"relay-{name}")
        self._lock = threading.Lock()
        self._taken = 0

    def free(self) -> int:
        """Threads not busy and not promised to work handed over."""
        with self._lock:
            return self.threads - self._taken

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._taken += 1
        self._pool.submit(work).add_done_callback(self._done)

    def close(self) -> None:
        """Wait for every piece of work handed over to return."""
        self._pool.shutdown(wait=True)

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._taken -= 1
        self.on_free()
