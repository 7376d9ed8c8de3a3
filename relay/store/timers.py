"""Judgment timers: a waiting stage's deadline, reminders and escalation, each change a compare-and-set on
its version that queues its deliveries and next wake-up in the same transaction. A timer starts with the
event that puts its stage on hold (relay.store.accept)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from relay.store.database import Database
from relay.store.records import TIMER_JOB, DeliveryDraft, Timer, Wait
from relay.store.tables import judgment_timers, judgments


class TimerQueries(Database):
    """Judgment timers."""

    def timer(self, key: str) -> Timer | None:
        with self._reading() as conn:
            row = conn.execute(select(judgment_timers).where(judgment_timers.c.key == key)).mappings().first()
        return _timer(row) if row else None

    def ended_waits(self, *, since: float) -> list[Wait]:
        """Every judgment whose wait ended at `since` or later: decided (by whoever Spinnaker or Slack names)
        or expired (by nobody)."""
        waited = (judgment_timers.c.ended_at - judgment_timers.c.started_at).label("waited")
        query = select(judgment_timers.c.application, judgment_timers.c.judge, judgment_timers.c.outcome,
                       waited, judgment_timers.c.ended_at).where(judgment_timers.c.ended_at >= since)
        with self._reading() as conn:
            return [Wait(*row) for row in conn.execute(query).all()]  # fetched at once: thousands of rows

    def waiting_timers(self, *, now: float, limit: int = 200) -> list[Timer]:
        """Timers of stages still waiting for a decision: not ended, not past their deadline, and with no
        Slack judgment holding the stage's claim (one is on its way to Gate, or decided it), oldest first."""
        held = select(judgments.c.id).where(judgments.c.claim == judgment_timers.c.key).exists()
        query = (select(judgment_timers)
                 .where(judgment_timers.c.outcome.is_(None), judgment_timers.c.deadline > now, ~held)
                 .order_by(judgment_timers.c.started_at, judgment_timers.c.key).limit(limit))
        with self._reading() as conn:
            return [_timer(row) for row in conn.execute(query).mappings()]

    def advance_timer(self, timer: Timer, values: dict[str, Any], *, now: float,
                      drafts: Iterable[DeliveryDraft] = ()) -> bool:
        """Move a timer on from `timer.version`, queueing `drafts` and its next wake-up (at `next_at`, unless
        it ended) in the same transaction. False, with nothing done, when another worker moved it first."""
        values = dict(values)
        for name in ("plan", "reminded"):
            if name in values:
                values[name] = json.dumps(values[name])
        with self.engine.begin() as conn:
            moved = conn.execute(update(judgment_timers).where(
                judgment_timers.c.key == timer.key, judgment_timers.c.version == timer.version,
                judgment_timers.c.outcome.is_(None)).values(**values, version=timer.version + 1)).rowcount
            if moved != 1:
                return False
            self._insert_drafts(conn, list(drafts), event_id=None, now=now)
            next_at = values.get("next_at")
            if values.get("outcome") is None and next_at is not None:
                self.enqueue_job(TIMER_JOB, {"timer": timer.key}, now=now, delay=max(0.0, next_at - now),
                                 conn=conn)
        return True


def _timer(row: Any) -> Timer:
    return Timer(**{**row, "plan": json.loads(row["plan"]), "reminded": json.loads(row["reminded"])})
