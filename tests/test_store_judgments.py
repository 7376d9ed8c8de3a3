"""Tests for the judgments table: migration 0003, the one-holder claim, and compare-and-set moves."""

from __future__ import annotations

import threading
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event

from relay.store import RECEIVED, DeliveryDraft, Store, metadata, migrate

KEY = "01RUN/stage-1"


@pytest.fixture
def store(migrated_store: Store) -> Store:
    """A migrated store on SQLite, and one on PostgreSQL."""
    return migrated_store


def click(store: Store, user: str = "U0ALICE", *, stage: str = "stage-1") -> int:
    return store.record_judgment({"execution_id": "01RUN", "stage_id": stage, "address": "#deploys",
                                  "decision": "continue", "user_id": user, "status": RECEIVED},
                                 now=100.0, job_kind="judgment")


def test_store_migrations_build_exactly_the_tables_the_code_declares(store: Store) -> None:
    assert migrate.current_revision(store) == migrate.head_revision(store) == "0012"
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_store_records_a_click_with_its_job_in_one_go(store: Store) -> None:
    judgment_id = click(store)

    [job] = store.lease_jobs(worker="w", now=100.0, lease=60.0)
    assert (job.kind, job.payload) == ("judgment", {"judgment": judgment_id})
    assert store.judgment(judgment_id).status == RECEIVED


def test_store_claim_has_one_holder_until_it_is_given_back(store: Store) -> None:
    first, second, third = click(store), click(store, "U0BOB"), click(store, "U0CAROL")
    other_stage = click(store, "U0DAVE", stage="stage-2")

    assert store.claim_judgment(first, key=KEY, values={}, now=101.0).id == first
    assert store.claim_judgment(second, key=KEY, values={}, now=102.0).id == first
    assert store.claim_judgment(other_stage, key="01RUN/stage-2", values={}, now=102.0).id == other_stage
    assert store.update_judgment(first, {"status": "reset", "claim": None}, expect="claimed", now=103.0)
    assert store.claim_judgment(third, key=KEY, values={}, now=104.0).id == third
    assert store.claim_holder(KEY).user_id == "U0CAROL"


def test_store_claim_only_moves_a_received_judgment(store: Store) -> None:
    judgment_id = click(store)
    store.claim_judgment(judgment_id, key=KEY, values={}, now=101.0)

    assert store.claim_judgment(judgment_id, key=KEY, values={}, now=102.0) is None


def test_store_concurrent_claims_have_exactly_one_winner(store: Store) -> None:
    ids = [click(store, f"U0USER{n}") for n in range(8)]
    start = threading.Barrier(len(ids))
    holders: dict[int, int | None] = {}

    def claim(judgment_id: int) -> None:
        start.wait()
        holder = store.claim_judgment(judgment_id, key=KEY, values={"user_email": "x@example.com"}, now=101.0)
        holders[judgment_id] = holder.id if holder else None

    threads = [threading.Thread(target=claim, args=(judgment_id,)) for judgment_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = {holder for holder in holders.values()}
    assert len(holders) == len(ids) and len(winners) == 1
    [winner] = winners
    assert [store.judgment(i).status for i in ids].count("claimed") == 1
    assert store.claim_holder(KEY).id == winner


def test_store_update_is_a_compare_and_set_that_queues_deliveries_only_on_success(store: Store) -> None:
    judgment_id = click(store)
    key = "01RUN/stage-1@#deploys"
    draft = DeliveryDraft(thread_key="01RUN@#deploys", channel="#deploys", action="upsert",
                          payload={"text": "x"}, template="judgment.update", message_key=key)

    assert not store.update_judgment(judgment_id, {"status": "refused"}, expect="claimed", now=101.0,
                                     drafts=[draft])
    assert store.list_deliveries() == []
    assert store.update_judgment(judgment_id, {"status": "refused"}, expect=RECEIVED, now=101.0,
                                 drafts=[draft])
    assert [d["template"] for d in store.list_deliveries()] == ["judgment.update"]
    assert store.queued_message_keys("01RUN/stage-1@", "judgment.update") == {key}


def start_timer(store: Store, key: str, *, event_id: str | None = None,
                drafts: list[DeliveryDraft] | None = None) -> None:
    """A stage's timer (`key` is new on every run, as the PostgreSQL database outlives the tests)."""
    timer = {"key": key, "execution_id": "01RUN", "stage_id": "stage-1", "application": "app",
             "started_at": 100.0, "deadline": 500.0, "next_at": 130.0, "plan": {"every": {"#deploys": 30.0}}}
    store.accept_event(event_id=event_id or uuid.uuid4().hex, type="orca:stage:starting", application="app",
                       execution_id="01RUN", drafts=drafts or [], now=100.0, timer=timer)


def test_store_starts_one_timer_per_stage_with_one_wake_up(store: Store) -> None:
    key = f"01RUN/{uuid.uuid4().hex}"
    start_timer(store, key)
    start_timer(store, key)  # the stage's task event, or Echo sending it twice

    assert store.timer(key).next_at == 130.0
    def wake_ups(now: float) -> list[dict]:
        leased = store.lease_jobs(worker="w", now=now, lease=60.0, limit=1000)
        return [job.payload for job in leased if job.kind == "judgment.timer"]

    assert wake_ups(129.0) == []
    assert wake_ups(130.0) == [{"timer": key}]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_store_judgment_event_is_accepted_in_one_statement_on_postgresql(store: Store) -> None:
    """The event, its run's summary, its reply, its timer and the timer's wake-up: one round trip."""
    key = f"01RUN/{uuid.uuid4().hex}"
    drafts = [DeliveryDraft(thread_key=f"{key}@#deploys", channel="#deploys", action=action,
                            template=template, payload={}, message_key=f"{key}@#deploys",
                            opens_thread=action == "upsert")
              for action, template in (("upsert", "pipeline.summary"), ("reply", "judgment.awaiting"))]
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: statements.append(statement))
    event_id = uuid.uuid4().hex
    start_timer(store, key, event_id=event_id, drafts=drafts)
    assert len(statements) == 1
    queued = [d["template"] for d in store.list_deliveries(limit=1000) if d["event_id"] == event_id]
    assert queued == ["judgment.awaiting", "pipeline.summary"]  # newest first
    assert store.timer(key).next_at == 130.0
    assert [job.payload for job in store.lease_jobs(worker="w", now=130.0, lease=60.0, limit=1000)
            if job.kind == "judgment.timer"] == [{"timer": key}]


def test_store_timer_moves_on_once_from_one_version(store: Store) -> None:
    key = f"01RUN/{uuid.uuid4().hex}"
    start_timer(store, key)
    seen = store.timer(key)  # two workers read the same state
    reminder = DeliveryDraft(thread_key="01RUN@#deploys", channel="#deploys", action="reply",
                             template="judgment.reminder", payload={"text": "Still waiting"})

    first = store.advance_timer(seen, {"reminded": {"#deploys": 1}, "next_at": 160.0}, now=130.0,
                                drafts=[reminder])
    second = store.advance_timer(seen, {"reminded": {"#deploys": 1}, "next_at": 160.0}, now=130.0,
                                 drafts=[reminder])

    assert (first, second) == (True, False)
    assert store.timer(key).reminded == {"#deploys": 1}
    assert store.advance_timer(store.timer(key), {"outcome": "expired", "ended_at": 500.0, "next_at": None},
                               now=500.0)
    assert not store.advance_timer(store.timer(key), {"next_at": 600.0}, now=500.0)  # it ended
