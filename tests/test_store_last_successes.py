"""Tests for the last_successes table: every replica reads one answer per pipeline, the newest kept."""

from __future__ import annotations

from relay.store import LastSuccess, Store

FOUND = LastSuccess(execution_id="01PREVIOUS", start_time=1_000.0, version={"label": "1.0"}, checked_at=50.0)


def test_store_last_success_is_none_until_remembered(migrated_store: Store) -> None:
    assert migrated_store.last_success("pipeline-1") is None
    migrated_store.remember_last_success("pipeline-1", FOUND)
    assert migrated_store.last_success("pipeline-1") == FOUND
    assert migrated_store.last_success("pipeline-2") is None


def test_store_last_success_keeps_the_newest_answer(migrated_store: Store) -> None:
    first_deploy = LastSuccess(execution_id=None, start_time=None, version=None, checked_at=10.0)
    newer = LastSuccess(execution_id="01NEWER", start_time=2_000.0, version=None, checked_at=90.0)
    migrated_store.remember_last_success("pipeline-1", FOUND)
    migrated_store.remember_last_success("pipeline-1", first_deploy)  # an older answer arriving late
    assert migrated_store.last_success("pipeline-1") == FOUND
    migrated_store.remember_last_success("pipeline-1", newer)
    assert migrated_store.last_success("pipeline-1") == newer
