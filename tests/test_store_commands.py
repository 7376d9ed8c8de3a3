"""The store's queries behind `/spinnaker pending` and `doctor`, on SQLite and PostgreSQL."""

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
