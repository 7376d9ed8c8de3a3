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

    def outcome(self) -> Result:
        """The result, or the error raised."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


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
        self._changed = threading.Condition()  # guards the queue and the writer's seat; told of each batch
        self._writing = False
        self._queued: list[_Write[Item, Result]] = []

    def run(self, item: Item) -> Result:
        """`item` written in a committed transaction, shared with other callers; its result or error."""
        entry: _Write[Item, Result] = _Write(item)
        with self._changed:
            self._queued.append(entry)
            # A caller whose item a batch wrote leaves as soon as that batch ends, not after the next one.
            while self._writing and not entry.done:
                self._changed.wait()
            if entry.done:
                return entry.outcome()
            self._writing = True
            batch, self._queued = self._queued, []
        try:
            self._commit(batch)
        finally:
            with self._changed:
                for other in batch:
                    if not other.done:  # this thread was stopped with the batch unwritten
                        other.error = other.error or RuntimeError("the write was not committed")
                        other.done = True
                self._writing = False
                self._changed.notify_all()
        return entry.outcome()

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
