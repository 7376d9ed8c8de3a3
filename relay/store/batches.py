"""Group commit: writes from the threads of one process committed together, one transaction per batch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Write(Generic[Item, Result]):
    """One caller's item to write, and what came of it once its batch is committed."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Writes items from many threads in shared transactions. A caller that finds no batch being written
    writes every item queued so far, its own included, with one call of `write(conn, items)` (which returns
    a result per item) in one transaction; callers arriving meanwhile queue theirs for the next batch and
    wait. Each returns once the transaction holding its item commits.

    On SQLite one writer goes at a time, and under load the turn passes more slowly than requests arrive;
    sharing a turn and a commit among all the requests that waited for it keeps each wait to about one
    batch. A batch that fails is written again one write per transaction, so a bad write fails alone."""

    def __init__(self, begin: Callable[[], AbstractContextManager[Connection]],
                 write: Callable[[Connection, list[Item]], list[Result]]) -> None:
        self._begin = begin
        self._write = write
        self._queue_lock = threading.Lock()
        self._writing = threading.Lock()
        self._queued: list[_Write[Item, Result]] = []

    def run(self, item: Item) -> Result:
        """`item` written in a committed transaction, shared with other callers; its result or error."""
        entry: _Write[Item, Result] = _Write(item)
        with self._queue_lock:
            self._queued.append(entry)
        with self._writing:
            if not entry.done:  # then it is still queued: this caller writes the batch
                with self._queue_lock:
                    batch, self._queued = self._queued, []
                try:
                    self._commit(batch)
                finally:
                    for other in batch:
                        if not other.done:  # this thread was stopped with the batch unwritten
                            other.error = other.error or RuntimeError("the write was not committed")
                            other.done = True
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Write[Item, Result]]) -> None:
        try:
            with self._begin() as conn:
                results = self._write(conn, [entry.item for entry in batch])
        except Exception:
            if len(batch) == 1:  # this caller's own write: its error is raised as it is
                raise
            for entry in batch:
                self._commit_alone(entry)
            return
        for entry, result in zip(batch, results, strict=True):
            entry.result, entry.done = result, True

    def _commit_alone(self, entry: _Write[Item, Result]) -> None:
        try:
            with self._begin() as conn:
                (entry.result,) = self._write(conn, [entry.item])
        except Exception as err:  # noqa: BLE001 - handed to the caller whose write it is
            entry.error = err
        entry.done = True
