"""Manual Judgments made from Slack: the audit record, the one claim per stage that lets one
click through to Gate, and each pipeline's previous successful run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from relay.store.database import Database
from relay.store.records import CLAIMED, RECEIVED, DeliveryDraft, Judgment, LastSuccess
from relay.store.tables import judgments, last_successes


class JudgmentQueries(Database):
    """Manual Judgments made from Slack."""

    def record_judgment(self, values: dict[str, Any], *, now: float, job_kind: str) -> int:
        """Record a click and queue the job that resolves it, in one transaction; returns the judgment id."""
        with self.engine.begin() as conn:
            inserted = conn.execute(insert(judgments).values(**values, received_at=now))
            judgment_id = inserted.inserted_primary_key[0]
            self.enqueue_job(job_kind, {"judgment": judgment_id}, now=now, conn=conn)
        return judgment_id

    def judgment(self, judgment_id: int) -> Judgment | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(judgments).where(judgments.c.id == judgment_id)).mappings().first()
        return Judgment(**row) if row else None

    def claim_judgment(self, judgment_id: int, *, key: str, values: dict[str, Any], now: float,
                       drafts: Iterable[DeliveryDraft] = ()) -> Judgment | None:
        """Take the stage's claim (`key`) for a received judgment, setting `values` and queueing `drafts` with
        it. Returns the judgment holding the claim (this one when it won), or None when this judgment was
        no longer waiting to claim (another run of its job got there first)."""
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    moved = conn.execute(update(judgments).where(
                        judgments.c.id == judgment_id, judgments.c.status == RECEIVED).values(
                        **values, claim=key, status=CLAIMED, claimed_at=now)).rowcount
                    if moved == 1:
                        self._insert_drafts(conn, list(drafts), event_id=None, now=now)
            except IntegrityError:
                holder = self.claim_holder(key)
                if holder is not None:
                    return holder
                continue  # the holder let go between our attempt and the look-up: try again
            return self.judgment(judgment_id) if moved == 1 else None
        raise RuntimeError(f"judgment {judgment_id}: the claim on {key} kept changing hands")

    def claim_holder(self, key: str) -> Judgment | None:
        """The judgment holding a stage's claim, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(judgments).where(judgments.c.claim == key)).mappings().first()
        return Judgment(**row) if row else None

    def update_judgment(self, judgment_id: int, values: dict[str, Any], *, expect: str, now: float,
                        drafts: Iterable[DeliveryDraft] = ()) -> bool:
        """Move a judgment on from status `expect` and queue the deliveries that report it, in one
        transaction. False, with nothing changed, when the judgment was no longer in status `expect`
        (another run of its job moved it first)."""
        with self.engine.begin() as conn:
            moved = conn.execute(update(judgments).where(
                judgments.c.id == judgment_id, judgments.c.status == expect).values(**values)).rowcount
            if moved == 1:
                self._insert_drafts(conn, list(drafts), event_id=None, now=now)
        return moved == 1

    def list_judgments(self, *, limit: int = 50) -> list[Judgment]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(judgments).order_by(judgments.c.id.desc()).limit(limit)).mappings()
            return [Judgment(**row) for row in rows]

    def last_success(self, pipeline_config_id: str) -> LastSuccess | None:
        """What Gate last said about a pipeline's latest successful run, if it was asked."""
        with self._reading() as conn:
            row = conn.execute(select(last_successes).where(
                last_successes.c.pipeline_config_id == pipeline_config_id)).mappings().first()
        if row is None:
            return None
        return LastSuccess(execution_id=row["execution_id"], start_time=row["start_time"],
                           version=json.loads(row["version"]) if row["version"] else None,
                           checked_at=row["checked_at"])

    def remember_last_success(self, pipeline_config_id: str, found: LastSuccess) -> None:
        """Keep Gate's answer for every replica; a newer answer replaces an older one."""
        values = {"execution_id": found.execution_id, "start_time": found.start_time,
                  "version": json.dumps(found.version) if found.version else None,
                  "checked_at": found.checked_at}
        with self.engine.begin() as conn:
            changed = conn.execute(update(last_successes).where(
                last_successes.c.pipeline_config_id == pipeline_config_id,
                last_successes.c.checked_at <= found.checked_at).values(**values)).rowcount
            if changed:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(last_successes).values(pipeline_config_id=pipeline_config_id,
                                                               **values))
            except IntegrityError:
                pass  # a newer answer is stored already
