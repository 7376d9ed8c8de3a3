"""The connection to SQLite or PostgreSQL: engine tuning, transactions, and the migration lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import create_engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from relay.store.sqlite import READ_ONLY, sqlite_connect_args, tune_sqlite
from relay.store.tables import metadata

MIGRATION_LOCK_KEY = 0x5E1A7  # any constant shared by every replica of the relay
PREPARE_THRESHOLD = 1  # psycopg: executions of a statement on a connection before it is prepared


class Database:
    """The engine, and transactions to read or write in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    @classmethod
    def from_url(cls, url: str, *, connections: int = 5) -> Self:
        """An engine tuned for the backend (relay.store.sqlite for SQLite). The pool keeps up to `connections`
        open (one per thread using the store at once), and opens more briefly."""
        pool = {"pool_size": connections, "max_overflow": 10}
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            engine = create_engine(url, connect_args=sqlite_connect_args(), **({} if memory else pool))
            tune_sqlite(engine)
        else:
            # LIFO hands out the connection used last, whose server process is warm; psycopg prepares a
            # statement the second time a connection runs it, so the webhook's and the dispatcher's
            # statements are parsed and planned once per connection.
            engine = create_engine(url, pool_pre_ping=True, pool_use_lifo=True,
                                   connect_args={"prepare_threshold": PREPARE_THRESHOLD}, **pool)
        return cls(engine)

    def create_schema(self) -> None:
        """Create every table (tests and the embedded default; production uses migrations)."""
        metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads only. On SQLite its transaction is deferred rather than immediate, so in WAL
        mode it neither waits for a writer nor holds one up (the dispatcher's polls, webhook lookups)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def lock_for_migrations(self, conn: Connection) -> None:
        """Serialize schema upgrades started at once by several replicas: a PostgreSQL advisory lock held
        until `conn`'s transaction ends (SQLite's BEGIN IMMEDIATE serializes them already)."""
        if self.is_postgres:
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))


def dialect_insert(postgres: bool) -> Any:
    """INSERT with ON CONFLICT, which SQLite and PostgreSQL spell the same way in SQLAlchemy."""
    return postgresql.insert if postgres else sqlite.insert
