"""The store's queries behind `/spinnaker pending`, the command rate limit and `doctor`, on SQLite and
PostgreSQL."""

from __future__ import annotations

from relay.store import DeliveryDraft, Store


def accept(store: Store, event_id: str, application: str | None, at: float, *channels: str) -> None:
    drafts = [DeliveryDraft(thread_key=f"{event_id}@{c}", channel=c, action="post",
                            template="pipeline.starting", payload={"text": "x"}) for c in channels]
    store.accept_event(event_id=event_id, type="orca:pipeline:starting", application=application,
                       execution_id=None, drafts=drafts, now=at)


def test_store_recent_applications_are_the_latest_active_first(migrated_store: Store) -> None:
    accept(migrated_store, "e1", "compute", 1_000.0)
    accept(migrated_store, "e2", "billing", 2_000.0)
    accept(migrated_store, "e3", "compute", 3_000.0)
    accept(migrated_store, "e4", "archive", 500.0)
    accept(migrated_store, "e5", None, 3_500.0)

    assert migrated_store.recent_applications(since=900.0) == ["compute", "billing"]
    assert migrated_store.recent_applications(since=0.0, limit=1) == ["compute"]


def test_store_channels_lists_every_address_once(migrated_store: Store) -> None:
    accept(migrated_store, "e1", "compute", 1_000.0, "#deploys", "C0123ABCD")
    accept(migrated_store, "e2", "compute", 2_000.0, "#deploys")

    assert migrated_store.channels() == ["#deploys", "C0123ABCD"]


def test_store_counts_commands_per_person_and_minute(migrated_store: Store) -> None:
    counts = [migrated_store.count_command("U1", now=now) for now in (600.0, 610.0, 659.9)]
    other = migrated_store.count_command("U2", now=630.0)
    next_minute = migrated_store.count_command("U1", now=660.0)

    assert (counts, other, next_minute) == ([1, 2, 3], 1, 1)
