"""Claiming deliveries with leases, on SQLite and PostgreSQL: each delivery goes to one worker, a dead
worker's claims come back when its lease runs out, and run order and channel pacing hold across workers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, defaultdict

from sqlalchemy import event

from relay.store import PENDING, SENDING, SENT, DeliveryDraft, Store, migrate

LEASE = 30.0


def queue(store: Store, *, runs: int, per_run: int, channels: int, now: float = 0.0) -> None:
    """`runs` runs spread over `channels` channels, each with `per_run` deliveries in its thread."""
    for step in range(per_run):
        for run in range(runs):
            channel = f"#c{run % channels}"
            store.accept_event(
                event_id=f"run{run}-step{step}", type="orca:stage:complete", application="compute",
                execution_id=f"run{run}", now=now,
                drafts=[DeliveryDraft(thread_key=f"run{run}@{channel}", channel=channel, action="post",
                                      template="stage.complete", payload={"text": f"run{run} step{step}"})])


def step_of(delivery) -> int:
    return int(delivery.payload["text"].split("step")[1])


def test_claim_gives_each_due_delivery_to_one_worker(migrated_store: Store) -> None:
    queue(migrated_store, runs=6, per_run=1, channels=6)
    first = migrated_store.lease_deliveries(worker="a", now=1.0, lease=LEASE, interval=0.0)
    second = migrated_store.lease_deliveries(worker="b", now=1.0, lease=LEASE, interval=0.0)
    assert len(first) == 6
    assert second == []
    assert migrated_store.counts_by_status() == {SENDING: 6}


def test_claim_waits_for_the_earlier_delivery_of_the_same_run(migrated_store: Store) -> None:
    queue(migrated_store, runs=1, per_run=3, channels=1)
    [first] = migrated_store.lease_deliveries(worker="a", now=1.0, lease=LEASE, interval=0.0)
    assert step_of(first) == 0
    assert migrated_store.lease_deliveries(worker="b", now=2.0, lease=LEASE, interval=0.0) == []
    migrated_store.reschedule(first.id, worker="a", at=10.0, error="ratelimited")
    assert migrated_store.lease_deliveries(worker="b", now=5.0, lease=LEASE, interval=0.0) == []
    [again] = migrated_store.lease_deliveries(worker="b", now=10.0, lease=LEASE, interval=0.0)
    assert again.id == first.id
    assert migrated_store.mark_sent(again.id, worker="b", now=11.0, ts="1.1")
    [second] = migrated_store.lease_deliveries(worker="a", now=11.0, lease=LEASE, interval=0.0)
    assert step_of(second) == 1


def test_claim_paces_a_channel_across_workers(migrated_store: Store) -> None:
    queue(migrated_store, runs=2, per_run=1, channels=1)
    [first] = migrated_store.lease_deliveries(worker="a", now=100.0, lease=LEASE, interval=1.0)
    assert migrated_store.mark_sent(first.id, worker="a", now=100.2, ts="1.1")
    assert migrated_store.lease_deliveries(worker="b", now=100.5, lease=LEASE, interval=1.0) == []
    assert len(migrated_store.lease_deliveries(worker="b", now=101.0, lease=LEASE, interval=1.0)) == 1


def test_claim_takes_one_delivery_of_a_channel_at_a_time(migrated_store: Store) -> None:
    """Two runs in one channel: the second waits while the first is in flight, however slow its call, and
    is due once the first is finished or its worker's lease ran out."""
    queue(migrated_store, runs=3, per_run=1, channels=1)
    [first] = migrated_store.lease_deliveries(worker="a", now=1.0, lease=10.0, interval=0.0)
    assert migrated_store.lease_deliveries(worker="b", now=5.0, lease=10.0, interval=0.0) == []
    assert migrated_store.renew_leases("a", until=20.0) == 1
    assert migrated_store.lease_deliveries(worker="b", now=15.0, lease=10.0, interval=0.0) == []
    assert migrated_store.mark_sent(first.id, worker="a", now=15.0, ts="1.1")
    [second] = migrated_store.lease_deliveries(worker="b", now=15.0, lease=10.0, interval=0.0)
    assert second.id > first.id
    [retaken] = migrated_store.lease_deliveries(worker="c", now=25.5, lease=10.0, interval=0.0)
    assert (retaken.id, retaken.attempts) == (second.id, 1)


def test_claim_retakes_an_expired_lease_and_counts_the_attempt(migrated_store: Store) -> None:
    queue(migrated_store, runs=1, per_run=2, channels=1)
    [held] = migrated_store.lease_deliveries(worker="dead", now=1.0, lease=10.0, interval=0.0)
    assert migrated_store.lease_deliveries(worker="alive", now=10.9, lease=10.0, interval=0.0) == []
    [retaken] = migrated_store.lease_deliveries(worker="alive", now=11.5, lease=10.0, interval=0.0)
    assert (retaken.id, retaken.attempts) == (held.id, 1)
    [row] = [r for r in migrated_store.list_deliveries() if r["id"] == held.id]
    assert row["last_error"] == "lease of dead expired mid-send"
    assert not migrated_store.mark_sent(held.id, worker="dead", now=12.0, ts="1.1")
    assert migrated_store.mark_sent(held.id, worker="alive", now=12.0, ts="1.2")
    [following] = migrated_store.lease_deliveries(worker="alive", now=12.0, lease=10.0, interval=0.0)
    assert step_of(following) == 1


def test_release_hands_back_a_stopping_workers_claims(migrated_store: Store) -> None:
    queue(migrated_store, runs=3, per_run=1, channels=3)
    assert len(migrated_store.lease_deliveries(worker="stopping", now=1.0, lease=LEASE, interval=0.0)) == 3
    assert migrated_store.release("stopping") == 3
    assert migrated_store.counts_by_status() == {PENDING: 3}
    assert len(migrated_store.lease_deliveries(worker="other", now=1.0, lease=LEASE, interval=0.0)) == 3


def test_queue_stats_count_unfinished_deliveries_and_the_oldest(migrated_store: Store) -> None:
    assert migrated_store.queue_stats().depth == {PENDING: 0, SENDING: 0}
    assert migrated_store.queue_stats().oldest_created_at is None
    queue(migrated_store, runs=2, per_run=1, channels=2, now=50.0)
    [claimed, _] = migrated_store.lease_deliveries(worker="a", now=70.0, lease=LEASE, interval=0.0)
    migrated_store.mark_sent(claimed.id, worker="a", now=71.0, ts="1.1")
    stats = migrated_store.queue_stats()
    assert stats.depth == {PENDING: 0, SENDING: 1}
    assert stats.oldest_created_at == 50.0


def test_due_since_names_the_oldest_work_a_free_thread_could_start(migrated_store: Store) -> None:
    assert migrated_store.due_since(20.0) == {"delivery": None, "job": None}
    queue(migrated_store, runs=2, per_run=2, channels=1, now=10.0)
    migrated_store.enqueue_job("refresh", {"stage": "s1"}, now=12.0)
    migrated_store.enqueue_job("refresh", {"stage": "s2"}, now=30.0)
    assert migrated_store.due_since(20.0) == {"delivery": 10.0, "job": 12.0}
    [delivery] = migrated_store.lease_deliveries(worker="a", now=20.0, lease=LEASE, interval=100.0)
    migrated_store.mark_sent(delivery.id, worker="a", now=20.0, ts="1.1")
    assert migrated_store.due_since(21.0)["delivery"] is None  # the channel's next slot is at 120
    assert migrated_store.due_since(120.0)["delivery"] == 10.0


def test_concurrent_workers_send_everything_once_in_run_order(migrated_store: Store) -> None:
    """Four threads, each a worker with its own claims, race over 40 runs in 8 channels: no delivery is
    claimed twice, none is lost, each run's deliveries finish in order, and no claim fails (a deadlock
    between two workers' channel slots would raise on PostgreSQL)."""
    queue(migrated_store, runs=40, per_run=5, channels=8)
    sent: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 60

    def work(name: str) -> None:
        try:
            while time.monotonic() < deadline and migrated_store.queue_stats().depth[PENDING]:
                leased = migrated_store.lease_deliveries(worker=name, now=time.time(), lease=LEASE,
                                                         interval=0.0)
                for delivery in leased:
                    with lock:
                        sent.append((delivery.thread_key, step_of(delivery)))
                    assert migrated_store.mark_sent(delivery.id, worker=name, now=time.time(), ts="1.1")
        except BaseException as err:
            errors.append(err)

    workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert migrated_store.counts_by_status() == {SENT: 200}
    assert max(Counter(sent).values()) == 1
    order: dict[str, list[int]] = defaultdict(list)
    for thread_key, step in sent:
        order[thread_key].append(step)
    assert all(steps == [0, 1, 2, 3, 4] for steps in order.values())
    assert len(order) == 40


def test_lease_jobs_retakes_an_expired_lease_and_counts_the_attempt(migrated_store: Store) -> None:
    job_id = migrated_store.enqueue_job("refresh", {"stage": "s1"}, now=1.0)
    [held] = migrated_store.lease_jobs(worker="dead", now=1.0, lease=10.0)
    assert (held.id, held.attempts) == (job_id, 0)
    assert migrated_store.lease_jobs(worker="alive", now=10.5, lease=10.0) == []
    [retaken] = migrated_store.lease_jobs(worker="alive", now=11.5, lease=10.0)
    assert (retaken.id, retaken.attempts) == (job_id, 1)
    assert migrated_store.release("alive") == 1


def test_sqlite_claim_skips_a_delivery_another_worker_took_since_it_was_read(tmp_path, monkeypatch) -> None:
    """On SQLite the candidates are read before the write turn; a row leased by another worker in between
    (here, right after the read) is not leased a second time."""
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    first, second = Store.from_url(url), Store.from_url(url)
    first.create_schema()
    queue(first, runs=1, per_run=1, channels=1)
    read_candidates = first._reading
    taken: list = []

    @contextlib.contextmanager
    def read_then_lose_the_race():
        with read_candidates() as conn:
            yield conn
        taken.extend(second.lease_deliveries(worker="b", now=1.0, lease=LEASE, interval=0.0))

    monkeypatch.setattr(first, "_reading", read_then_lose_the_race)
    assert first.lease_deliveries(worker="a", now=1.0, lease=LEASE, interval=0.0) == []
    assert len(taken) == 1
    assert [(row["status"], row["attempts"]) for row in first.list_deliveries()] == [(SENDING, 0)]
    assert first.mark_sent(taken[0].id, worker="b", now=2.0, ts="1.1")  # the lease is b's
    first.engine.dispose()
    second.engine.dispose()


def test_claim_marks_the_rewrites_a_newer_one_supersedes_and_leases_the_newest(migrated_store: Store) -> None:
    for step, rank in enumerate((1, 2, 2)):
        migrated_store.accept_event(
            event_id=f"update-{step}", type="orca:pipeline:starting", application="compute",
            execution_id="run", now=0.0,
            drafts=[DeliveryDraft(thread_key="run@#c", channel="#c", action="upsert", message_key="run@#c",
                                  rank=rank, template="pipeline.starting", payload={"text": f"step{step}"})])
    # A thread's rows are candidates one at a time: each poll marks one rewrite, the third leases the newest.
    leased = [delivery for _ in range(3)
              for delivery in migrated_store.lease_deliveries(worker="a", now=1.0, lease=LEASE, interval=1.0)]
    assert [delivery.payload for delivery in leased] == [{"text": "step2"}]
    assert migrated_store.counts_by_status() == {SENDING: 1, "superseded": 2}


def test_claim_passes_over_channels_whose_due_deliveries_all_wait_for_earlier_ones(
        migrated_store: Store) -> None:
    """Channels whose runs wait on a delivery in backoff take none of the few channels a poll looks at."""
    queue(migrated_store, runs=3, per_run=2, channels=3)  # #c0..#c2, each one run of two
    for head in migrated_store.lease_deliveries(worker="a", now=1.0, lease=LEASE, interval=0.0):
        migrated_store.reschedule(head.id, worker="a", at=1000.0, error="ratelimited")
    migrated_store.accept_event(
        event_id="late", type="orca:stage:complete", application="compute", execution_id="late", now=2.0,
        drafts=[DeliveryDraft(thread_key="late@#c9", channel="#c9", action="post", template="stage.complete",
                              payload={"text": "late step0"})])
    migrated_store.hold_channel("#c9", 2.0)  # free since after the others: a poll would look at it last
    [leased] = migrated_store.lease_deliveries(worker="b", now=3.0, lease=LEASE, interval=0.0, limit=1)
    assert leased.channel == "#c9"


def test_idle_poll_costs_the_same_whatever_the_backlog(tmp_path) -> None:
    """The dispatcher's poll while a channel is paced (lease, next_due), and its lease once the channel is
    free, do as much work with 1,200 deliveries queued as with 60: counted in SQLite's virtual-machine
    instructions, which do not depend on the machine's speed."""
    def steps(runs: int) -> list[int]:
        store = Store.from_url(f"sqlite:///{tmp_path / f'backlog-{runs}.sqlite3'}")
        migrate.upgrade(store)
        queue(store, runs=runs, per_run=6, channels=1)
        store.engine.dispose()
        counted = [0]

        def count() -> int:
            counted[0] += 1
            return 0

        event.listen(store.engine, "connect",
                     lambda dbapi_connection, _record: dbapi_connection.set_progress_handler(count, 100))
        phases = []
        store.hold_channel("#c0", 100.0)
        for poll in (lambda: store.lease_deliveries(worker="a", now=10.0, lease=LEASE, interval=1.0),
                     store.next_due,
                     lambda: store.lease_deliveries(worker="a", now=100.0, lease=LEASE, interval=1.0)):
            counted[0] = 0
            poll()
            phases.append(counted[0])
        store.engine.dispose()
        return phases

    small, large = steps(10), steps(200)
    assert all(big <= 2 * little + 5 for little, big in zip(small, large, strict=True)), (small, large)
