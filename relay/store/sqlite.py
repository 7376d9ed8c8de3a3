"""SQLite tuned for many readers and one writer at a time: WAL, the pragmas that suit it, and writers that
take turns rather than poll for SQLite's lock."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import Executable

READ_ONLY = "relay_read_only"  # an execution option: the connection only reads (see Database._reading)
# Per connection: pages cached and read through a memory map, a temporary table never on disk, and the WAL
# file cut back after each checkpoint.
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "cache_size=-8000",
           "mmap_size=134217728", "temp_store=MEMORY", "journal_size_limit=67108864")
TURNS_SUFFIX = ".writers"  # beside the database file: the file writers lock to take their turn
MEMORY = ("", ":memory:")
DIALECT = pysqlite.dialect()

_this_thread = threading.local()  # .turn: the connection whose write turn this thread holds


class TurnTakingConnection(sqlite3.Connection):
    """A connection whose write transactions wait their turn on an exclusive flock of `<database>.writers`,
    shared by every thread and process writing to the database, and end it when they commit, roll back or
    close (or the process dies: the kernel lets the lock go).

    SQLite lets one writer in at a time and makes the others poll: its busy handler sleeps 1, 2, 5, 10, up
    to 100 ms between tries, so a writer can sleep through many turns it could have had. A writer blocked
    on the flock instead wakes the moment the one before it is done. SQLite's own busy timeout still
    applies to whatever writes without a turn (a second write connection opened inside a write turn by the
    same thread, which would otherwise wait for itself)."""

    def __init__(self, database: str | bytes | os.PathLike, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        path = os.fsdecode(database)
        self._turns = None if path in MEMORY or path.startswith("file:") else _open_turns(path)
        self._holding = False

    def take_turn(self) -> None:
        """Wait until no other connection is writing, then hold the turn until this transaction ends."""
        holder = getattr(_this_thread, "turn", None)
        if self._turns is None or self._holding or (holder is not None and holder._holding):
            return
        fcntl.flock(self._turns, fcntl.LOCK_EX)
        self._holding = True
        _this_thread.turn = self

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()
            if self._turns is not None:
                os.close(self._turns)
                self._turns = None

    def _end_turn(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._turns, fcntl.LOCK_UN)
            if getattr(_this_thread, "turn", None) is self:
                _this_thread.turn = None


def _open_turns(database: str) -> int:
    """The turns file of `database` (which the connection has opened, so it exists), created as SQLite
    creates its WAL file: with the database's mode, so that whoever may write the database may take turns."""
    try:
        turns = os.open(database + TURNS_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return os.open(database + TURNS_SUFFIX, os.O_RDWR)
    os.fchmod(turns, os.stat(database).st_mode & 0o777)
    return turns


def sqlite_connect_args() -> dict[str, Any]:
    """What sqlite3.connect is given: turn-taking connections, usable from any thread of the pool."""
    return {"factory": TurnTakingConnection, "timeout": 30, "check_same_thread": False}


def tune_sqlite(engine: Engine) -> None:
    """The pragmas on every connection; write transactions BEGIN IMMEDIATE once they have their turn (so two
    processes never deadlock upgrading a lock), reads a deferred BEGIN that in WAL mode waits for no one."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        conn.connection.dbapi_connection.take_turn()
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class PreparedStatement:
    """A statement compiled once for SQLite and run on the DBAPI cursor of a connection in a transaction:
    inside a writer's turn, SQLAlchemy's work for each execution would cost more than SQLite's own."""

    def __init__(self, statement: Executable, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=DIALECT, column_keys=list(columns))
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        # The statement's own literals (`action == "upsert"`) are parameters too, with their value.
        self.literals = {name: bind.value for name, bind in compiled.binds.items()
                         if name in self.names and not bind.required}

    def run(self, conn: Connection, row: dict[str, Any]) -> int:
        """Execute it with `row`'s values; the rows it changed."""
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(self.sql, self._values(row))
        return cursor.rowcount

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Execute it once per row."""
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.executemany(self.sql, [self._values(row) for row in rows])

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        if self.literals:
            row = {**self.literals, **row}
        return tuple(row[name] for name in self.names)
