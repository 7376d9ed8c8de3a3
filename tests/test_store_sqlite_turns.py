"""Tests for relay/store/sqlite.py: SQLite writers take turns on a lock file, waking as soon as the writer
before them ends (commit, rollback, close, or its process dying), and readers never wait for a turn."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from relay.store import Store
from relay.store.sqlite import TURNS_SUFFIX
from relay.store.tables import events
from tests.processes import ROOT, wait_until


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "relay.sqlite3"
    store = Store.from_url(f"sqlite:///{path}")
    store.create_schema()
    store.engine.dispose()
    return path


def row(event_id: str) -> dict:
    return {"event_id": event_id, "type": "orca:pipeline:starting", "application": "app",
            "execution_id": "run", "received_at": 1.0, "notifications": 0}


def waiting_for_turn(path: Path) -> bool:
    """Whether a process is blocked on the flock of `path`'s turns file (/proc/locks marks a waiter `->`)."""
    inode = os.stat(str(path) + TURNS_SUFFIX).st_ino
    return any(line.split()[1:3] == ["->", "FLOCK"] and line.split()[6].endswith(f":{inode}")
               for line in Path("/proc/locks").read_text().splitlines() if "->" in line)


def turn_is_free(path: Path) -> bool:
    fd = os.open(str(path) + TURNS_SUFFIX, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_writer_waits_for_the_turn_and_starts_once_the_one_before_commits(database: Path) -> None:
    store = Store.from_url(f"sqlite:///{database}")
    order: list[str] = []
    second_done = threading.Event()

    def second_writer() -> None:
        with store.engine.begin() as conn:
            order.append("second began")
            conn.execute(insert(events), row("second"))
        second_done.set()

    with store.engine.begin() as conn:
        conn.execute(insert(events), row("first"))
        thread = threading.Thread(target=second_writer)
        thread.start()
        wait_until(lambda: waiting_for_turn(database), 5, "the second writer to wait for its turn")
        assert not store.event_seen("first")  # a reader waits for no turn, and sees no uncommitted write
        order.append("first commits")
    assert second_done.wait(timeout=10)
    thread.join(timeout=10)
    assert order == ["first commits", "second began"]
    with store.engine.connect() as conn:
        assert sorted(conn.execute(select(events.c.event_id)).scalars()) == ["first", "second"]
    store.engine.dispose()


def test_the_turn_ends_with_a_rollback(database: Path) -> None:
    store = Store.from_url(f"sqlite:///{database}")
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        conn.execute(insert(events), row("undone"))
        assert not turn_is_free(database)
        raise RuntimeError("the transaction fails")
    assert turn_is_free(database)
    store.engine.dispose()


HOLDER = """
import sys, time
from sqlalchemy import insert
from relay.store import Store
from relay.store.tables import events
store = Store.from_url(sys.argv[1])
with store.engine.begin() as conn:
    conn.execute(insert(events), {"event_id": "killed", "type": "t", "application": None,
                                  "execution_id": None, "received_at": 1.0, "notifications": 0})
    print("holding", flush=True)
    time.sleep(600)  # the write transaction stays open until the process is killed
"""


def test_a_writer_killed_mid_transaction_hands_the_turn_on(database: Path) -> None:
    url = f"sqlite:///{database}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "holding"
        store = Store.from_url(url)
        written = threading.Event()

        def write() -> None:
            with store.engine.begin() as conn:
                conn.execute(insert(events), row("after"))
            written.set()

        threading.Thread(target=write, daemon=True).start()
        wait_until(lambda: waiting_for_turn(database), 5, "the writer to wait for the killed one's turn")
        assert not written.is_set()
        holder.kill()
        assert written.wait(timeout=10)
        with store.engine.connect() as conn:
            assert conn.execute(select(events.c.event_id)).scalars().all() == ["after"]
        store.engine.dispose()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_the_turns_file_has_the_database_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    path.touch(mode=0o660)
    path.chmod(0o660)
    store = Store.from_url(f"sqlite:///{path}")
    store.create_schema()
    assert os.stat(str(path) + TURNS_SUFFIX).st_mode & 0o777 == 0o660
    store.engine.dispose()
