"""Slack requests taken, on SQLite and PostgreSQL: each key once, from any number of threads at once, until
it expires and is pruned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from relay.store import Store


def test_store_takes_a_slack_request_once_across_concurrent_callers(migrated_store: Store) -> None:
    def take(_: int) -> bool:
        return migrated_store.take_slack_request("k" * 64, expires_at=400.0, now=100.0)

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(take, range(8)))

    assert sorted(taken) == [False] * 7 + [True]


def test_store_prunes_a_slack_request_once_it_expires(migrated_store: Store) -> None:
    assert migrated_store.take_slack_request("a" * 64, expires_at=400.0, now=100.0)

    again_in_time = migrated_store.take_slack_request("a" * 64, expires_at=400.0, now=399.0)
    again_expired = migrated_store.take_slack_request("a" * 64, expires_at=800.0, now=401.0)

    assert (again_in_time, again_expired) == (False, True)
