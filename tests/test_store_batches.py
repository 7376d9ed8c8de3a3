"""Tests for relay/store/batches.py and the SQLite event acceptance built on it: writes from many threads
share transactions, each caller sees its own result or error, and a bad write fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from relay.store import DeliveryDraft, DuplicateEvent, Store
from relay.store.batches import GroupCommit
from relay.store.tables import events
from tests.processes import wait_until


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'relay.sqlite3'}", connections=10)
    store.create_schema()
    yield store
    store.engine.dispose()


def event_row(event_id: str) -> dict:
    return {"event_id": event_id, "type": "orca:pipeline:starting", "application": "app",
            "execution_id": "run", "received_at": 1.0, "notifications": 0}


class HeldFirstBatch:
    """A batch writer inserting event rows, whose first batch waits until `release` is set: callers arriving
    meanwhile queue up for the next batch. Records each batch's ids and the transaction it ran in."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.release = threading.Event()
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, conn, ids: list[str]) -> list[str]:
        if not self.batches and len(ids) == 1:
            self.batches.append(ids)
            self.release.wait(timeout=10)
        else:
            self.batches.append(ids)
        for event_id in ids:
            if event_id == self.fail_on:
                raise ValueError(f"cannot write {event_id}")
            conn.execute(insert(events), event_row(event_id))
        return [f"written {event_id}" for event_id in ids]


def stored_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def run_held(store: Store, writer: HeldFirstBatch, ids: list[str]) -> dict[str, object]:
    """Write ids[0] (held), then the rest while it is held; each id's result or error."""
    group = GroupCommit(store.engine.begin, writer)

    def write(event_id: str) -> object:
        try:
            return group.run(event_id)
        except Exception as err:  # noqa: BLE001 - the test compares what each caller got
            return err

    with ThreadPoolExecutor(len(ids)) as pool:
        first = pool.submit(write, ids[0])
        wait_until(lambda: writer.batches, 5, "the first batch to start")
        rest = {event_id: pool.submit(write, event_id) for event_id in ids[1:]}
        wait_until(lambda: len(group._queued) == len(ids) - 1, 5, "the other writes to queue up")
        writer.release.set()
        return {ids[0]: first.result(timeout=10), **{key: f.result(timeout=10) for key, f in rest.items()}}


def test_writes_queued_during_a_batch_are_committed_together_in_the_next(store: Store) -> None:
    writer = HeldFirstBatch()
    ids = [f"e{n}" for n in range(6)]
    results = run_held(store, writer, ids)
    assert results == {event_id: f"written {event_id}" for event_id in ids}
    assert writer.batches[0] == ["e0"]
    assert sorted(writer.batches[1]) == ids[1:]  # five callers, one transaction
    assert len(writer.batches) == 2
    assert stored_ids(store) == set(ids)


def test_a_failing_write_fails_alone_and_the_rest_of_its_batch_commits(store: Store) -> None:
    writer = HeldFirstBatch(fail_on="e3")
    ids = [f"e{n}" for n in range(5)]
    results = run_held(store, writer, ids)
    assert isinstance(results["e3"], ValueError) and str(results["e3"]) == "cannot write e3"
    assert {key: value for key, value in results.items() if key != "e3"} == {
        event_id: f"written {event_id}" for event_id in ids if event_id != "e3"}
    assert stored_ids(store) == set(ids) - {"e3"}


def test_a_single_write_raises_its_own_error_and_commits_nothing(store: Store) -> None:
    writer = HeldFirstBatch(fail_on="bad")
    writer.release.set()
    group = GroupCommit(store.engine.begin, writer)
    with pytest.raises(ValueError, match="cannot write bad"):
        group.run("bad")
    assert stored_ids(store) == set()


def draft(channel: str = "#deploys") -> DeliveryDraft:
    return DeliveryDraft(thread_key="run@#deploys", channel=channel, action="post",
                         template="pipeline.starting", payload={"text": "hi"})


def test_concurrent_acceptances_of_one_event_id_accept_it_once(store: Store) -> None:
    start = threading.Barrier(8)

    def accept(number: int) -> str:
        start.wait(timeout=10)
        try:
            store.accept_event(event_id="same", type="orca:pipeline:starting", application="app",
                               execution_id="run", drafts=[draft()], now=float(number))
        except DuplicateEvent:
            return "duplicate"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(accept, range(8)))
    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 7
    assert len(store.list_deliveries()) == 1


def test_many_threads_accept_distinct_events_each_with_its_deliveries(store: Store) -> None:
    def accept(number: int) -> None:
        store.accept_event(event_id=f"event-{number}", type="orca:pipeline:starting", application="app",
                           execution_id=f"run-{number}", drafts=[draft(f"#c{number % 3}")], now=float(number))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(accept, range(200)))
    deliveries = store.list_deliveries(limit=500)
    assert sorted(d["event_id"] for d in deliveries) == sorted(f"event-{n}" for n in range(200))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM channels")).scalar() == 3
