"""Background jobs (Gate calls, lookups, message updates that must not block a Slack ack), leased."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection

from relay.store.database import Database
from relay.store.queues import due_at, lease_values
from relay.store.records import FAILED, PENDING, SENDING, SENT, Job
from relay.store.tables import jobs


class JobQueries(Database):
    """Background jobs (Gate calls, lookups, message updates that must not block a Slack ack), leased.."""

    def enqueue_job(self, kind: str, payload: dict[str, Any], *, now: float, delay: float = 0.0,
                    conn: Connection | None = None) -> int:
        """Queue a job, inside the caller's transaction when `conn` is given."""
        statement = insert(jobs).values(kind=kind, payload=json.dumps(payload), status=PENDING, attempts=0,
                                        next_attempt_at=now + delay, created_at=now)
        if conn is not None:
            return conn.execute(statement).inserted_primary_key[0]
        with self.engine.begin() as own:
            return own.execute(statement).inserted_primary_key[0]

    def enqueue_job_once(self, kind: str, payload: dict[str, Any], *, now: float) -> bool:
        """Queue a job unless the same one (kind and payload) waits untried already: that one will see
        whatever this one would. False when it was left out."""
        text = json.dumps(payload)
        waiting = select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.payload == text,
                                          jobs.c.status == PENDING, jobs.c.attempts == 0).limit(1)
        with self.engine.begin() as conn:
            if conn.execute(waiting).first() is not None:
                return False
            self.enqueue_job(kind, payload, now=now, conn=conn)
        return True

    def lease_jobs(self, *, worker: str, now: float, lease: float, limit: int = 10) -> list[Job]:
        """Claim due jobs: pending ones, and those whose worker's lease ran out (counted as an attempt)."""
        due = or_(and_(jobs.c.status == PENDING, jobs.c.next_attempt_at <= now),
                  and_(jobs.c.status == SENDING, jobs.c.lease_until < now))
        query = select(jobs).where(due).order_by(jobs.c.id).limit(limit)
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        else:
            # One writer at a time on SQLite: a poll finding nothing due (the usual case) only reads.
            with self._reading() as conn:
                if conn.execute(query.with_only_columns(jobs.c.id).limit(1)).first() is None:
                    return []
        leased: list[Job] = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).mappings().all():
                values = lease_values(row, worker=worker, now=now, lease=lease)
                conn.execute(update(jobs).where(jobs.c.id == row["id"]).values(**values))
                leased.append(Job(id=row["id"], kind=row["kind"], payload=json.loads(row["payload"]),
                                  attempts=values["attempts"], due_at=due_at(row),
                                  created_at=row["created_at"]))
        return leased

    def finish_job(self, job_id: int, *, worker: str, now: float, error: str | None = None) -> None:
        """Mark a job done, or failed for good when `error` is given."""
        values: dict[str, Any] = {"status": FAILED if error else SENT, "finished_at": now,
                                  "lease_until": None, "last_error": error}
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.leased_by == worker).values(**values))

    def retry_job(self, job_id: int, *, worker: str, at: float, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.leased_by == worker).values(
                status=PENDING, next_attempt_at=at, lease_until=None, leased_by=None, last_error=error,
                attempts=jobs.c.attempts + 1))
