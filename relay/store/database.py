"""The connection to SQLite or PostgreSQL: engine tuning, transactions, and the migration lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from relay.store.tables import metadata

READ_ONLY = "relay_read_only"  # an execution option: the connection only reads (see Database._reading)
MIGRATION_LOCK_KEY = 0x5E1A7  # any constant shared by every replica of the relay
PREPARE_THRESHOLD = 1  # psycopg: executions of a statement on a connection before it is prepared
# Per SQLite connection, for one writer and many readers: pages cached and read through a memory map, a
# temporary table never on disk, and the WAL file cut back after each checkpoint.
SQLITE_PRAGMAS = ("cache_size=-8000", "mmap_size=134217728", "temp_store=MEMORY",
                  "journal_size_limit=67108864")


class Database:
    """The engine, and transactions to read or write in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    @classmethod
    def from_url(cls, url: str, *, connections: int = 5) -> Self:
        """An engine tuned for the backend: WAL, a busy timeout and immediate transactions on SQLite. The pool
        keeps up to `connections` open (one per thread using the store at once), and opens more briefly."""
        pool = {"pool_size": connections, "max_overflow": 10}
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                   **({} if memory else pool))
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


def tune_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so two processes never deadlock upgrading a lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def dialect_insert(postgres: bool) -> Any:
    """INSERT with ON CONFLICT, which SQLite and PostgreSQL spell the same way in SQLAlchemy."""
    return postgresql.insert if postgres else sqlite.insert
