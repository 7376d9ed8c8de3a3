"""Events seen: each Echo event id is accepted once, with the application and run it names."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from relay.store.accept import postgres_accept, start_timer
from relay.store.batches import GroupCommit
from relay.store.database import Database
from relay.store.records import DeliveryDraft, DuplicateEvent
from relay.store.sqlite import PreparedStatement
from relay.store.tables import events


@dataclass(frozen=True)
class _Acceptance:
    """An event to record (its row), with its deliveries and the judgment timer it starts."""

    row: dict[str, Any]
    drafts: list[DeliveryDraft]
    timer: dict[str, Any] | None


class EventQueries(Database):
    """Events seen."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._acceptances: GroupCommit[_Acceptance, bool] = GroupCommit(engine.begin, self._accept_batch)

    def accept_event(self, *, event_id: str, type: str, application: str | None, execution_id: str | None,
                     drafts: Iterable[DeliveryDraft], now: float, facts: dict[str, Any] | None = None,
                     timer: dict[str, Any] | None = None) -> None:
        """Record an event (with `facts`, what its deliveries' recipes render from) and its deliveries (and
        the judgment timer it starts, for its stage) in one transaction; raise DuplicateEvent if seen before.
        On SQLite the transaction is shared with the other events this process is accepting (see
        GroupCommit)."""
        drafts = list(drafts)
        row = {"event_id": event_id, "type": type, "application": application, "execution_id": execution_id,
               "received_at": now, "notifications": len(drafts)}
        row["facts"] = None if facts is None else _dumps(facts)
        if not self.is_postgres:
            if not self._acceptances.run(_Acceptance(row, drafts, timer)):
                raise DuplicateEvent(event_id)
            return
        try:
            # One statement, so one round trip to the server, is the whole transaction.
            with self.engine.connect() as conn:
                postgres_accept(conn.execution_options(isolation_level="AUTOCOMMIT"), row, drafts, timer,
                                now=now)
        except IntegrityError:
            if self.event_seen(event_id):
                raise DuplicateEvent(event_id) from None
            raise

    def _accept_batch(self, conn: Connection, batch: list[_Acceptance]) -> list[bool]:
        """SQLite: events, their deliveries and their timers in the batch's transaction; per event, whether it
        is new (not seen before, nor earlier in the batch)."""
        new = [_INSERT_NEW.run(conn, acceptance.row) == 1 for acceptance in batch]
        accepted = [acceptance for acceptance, is_new in zip(batch, new, strict=True) if is_new]
        self._insert_queued(conn, [(draft, acceptance.row["event_id"], acceptance.row["received_at"])
                                   for acceptance in accepted for draft in acceptance.drafts])
        for acceptance in accepted:
            if acceptance.timer is not None:
                start_timer(conn, acceptance.timer, now=acceptance.row["received_at"])
        return new

    def event_seen(self, event_id: str) -> bool:
        with self._reading() as conn:
            return conn.execute(select(events.c.event_id).where(events.c.event_id == event_id)).first() \
                is not None

    def event_facts(self, event_id: str) -> dict[str, Any] | None:
        """The facts an accepted event was stored with (None when it kept none)."""
        with self._reading() as conn:
            facts = conn.execute(select(events.c.facts).where(events.c.event_id == event_id)).scalar()
        return None if facts is None else orjson.loads(facts)

    def event_application(self, event_id: str) -> str | None:
        """The application of an accepted event (None when unknown)."""
        with self._reading() as conn:
            return conn.execute(select(events.c.application).where(events.c.event_id == event_id)).scalar()

    def recent_applications(self, *, since: float, limit: int = 20) -> list[str]:
        """Applications the relay received events for since `since`, most recently active first."""
        latest = func.max(events.c.received_at)
        query = (select(events.c.application)
                 .where(events.c.received_at >= since, events.c.application.is_not(None))
                 .group_by(events.c.application).order_by(latest.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [row.application for row in conn.execute(query)]


def _dumps(facts: dict[str, Any]) -> bytes:
    """JSON by orjson, which is fast with a multi-megabyte execution; by the standard library for what orjson
    cannot write (an integer past 64 bits, which a strict parse may have read)."""
    try:
        return orjson.dumps(facts)
    except orjson.JSONEncodeError:
        return json.dumps(facts, ensure_ascii=False).encode()


_INSERT_NEW = PreparedStatement(
    sqlite.insert(events).on_conflict_do_nothing(index_elements=[events.c.event_id]),
    ["event_id", "type", "application", "execution_id", "received_at", "notifications", "facts"])
