"""What accepting an event writes (its row, its new channels, its deliveries, and the judgment timer it
starts with the timer's first wake-up), in the form that costs the webhook least on each database: one
statement on PostgreSQL, so one round trip is the whole transaction; statements compiled once and run on
the cursor inside the writer's turn on SQLite."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from relay.store.drafts import DRAFT_COLUMNS, draft_row
from relay.store.records import PENDING, TIMER_JOB, DeliveryDraft
from relay.store.sqlite import PreparedStatement
from relay.store.tables import deliveries, events, jobs, judgment_timers


def start_timer(conn: Connection, values: dict[str, Any], *, now: float) -> None:
    """SQLite: start a stage's timer and queue its first wake-up, unless the stage has one already."""
    if _SQLITE_TIMER.run(conn, _timer_row(values)) == 1:
        _SQLITE_WAKE.run(conn, _wake_row(values, now=now))


def postgres_accept(conn: Connection, event: dict[str, Any], drafts: list[DeliveryDraft],
                    timer: dict[str, Any] | None, *, now: float) -> None:
    """PostgreSQL: the whole acceptance in POSTGRES_ACCEPT, atomic on its own (run it in autocommit)."""
    conn.execute(POSTGRES_ACCEPT, _postgres_params(event, drafts, timer, now=now))


def _timer_row(values: dict[str, Any]) -> dict[str, Any]:
    """A stage's new timer as a row (NULL in the columns `values` leaves out): its plan, nothing reminded or
    escalated yet."""
    return {**dict.fromkeys(_TIMER_COLUMNS), **values, "plan": json.dumps(values["plan"]),
            "reminded": json.dumps({}), "escalated": False, "dms_pending": False, "version": 0}


def _wake_row(values: dict[str, Any], *, now: float) -> dict[str, Any]:
    """The job that first wakes a new timer: at its `next_at`, or now."""
    return {"kind": TIMER_JOB, "payload": json.dumps({"timer": values["key"]}), "status": PENDING,
            "attempts": 0, "next_attempt_at": now + max(0.0, (values["next_at"] or now) - now),
            "created_at": now}


_DELIVERY_COLUMNS = sorted(DRAFT_COLUMNS | {"recipe"})
_TIMER_COLUMNS = [c.name for c in judgment_timers.c]
_WAKE_COLUMNS = ["kind", "payload", "status", "attempts", "next_attempt_at", "created_at"]


def _parameters(table: Any, prefix: str, names: list[str], *, array: bool = False) -> str:
    """One typed parameter per column (an array of them, for unnest())."""
    return ", ".join(f"CAST(:{prefix}_{name} AS {table.c[name].type.compile(dialect=postgresql.dialect())}"
                     f"{'[]' if array else ''})" for name in names)


def _postgres_accept() -> Any:
    """One INSERT of an event with everything it queues, whose text is the same whatever the number of
    deliveries (one array per column, unnested in order) and whether it starts a timer (plain parameters:
    a timer's plan can hold much of the execution, which read out of an array's text would cost tens of
    milliseconds): PostgreSQL parses and plans it once per connection, SQLAlchemy compiles it once.

    Its parts see the database as it was when the statement began, not each other's rows; so a draft that
    opens a run's thread after another draft of the same event that would have opened it is left out by
    _postgres_params, as the earlier row would have ruled it out."""
    event_columns = ", ".join(c.name for c in events.c)
    delivery_columns = ", ".join(_DELIVERY_COLUMNS)
    delivery_arrays = _parameters(deliveries, "d", _DELIVERY_COLUMNS, array=True)
    timer_columns = ", ".join(_TIMER_COLUMNS)
    wake_columns = ", ".join(_WAKE_COLUMNS)
    return text(
        f"WITH accepted AS (INSERT INTO events ({event_columns}) "
        f"VALUES ({', '.join(':' + c.name for c in events.c)})), "
        "channels_added AS (INSERT INTO channels (channel, next_allowed_at, joined) "
        "SELECT channel, 0.0, false FROM unnest(CAST(:channels AS VARCHAR[])) AS added(channel) "
        "ON CONFLICT (channel) DO NOTHING), "
        f"timer_started AS (INSERT INTO judgment_timers ({timer_columns}) "
        f"SELECT {_parameters(judgment_timers, 't', _TIMER_COLUMNS)} WHERE CAST(:timer AS BOOLEAN) "
        "ON CONFLICT (key) DO NOTHING RETURNING key), "
        f"timer_woken AS (INSERT INTO jobs ({wake_columns}) "
        f"SELECT {_parameters(jobs, 'w', _WAKE_COLUMNS)} FROM timer_started) "
        f"INSERT INTO deliveries ({delivery_columns}) SELECT {delivery_columns} "
        f"FROM unnest({delivery_arrays}, CAST(:opens AS BOOLEAN[])) "
        f"WITH ORDINALITY AS queued({delivery_columns}, opens, position) "
        # A run's parent message is queued only when the run has none in the channel, posted or queued.
        "WHERE NOT queued.opens OR NOT (EXISTS (SELECT FROM messages WHERE messages.key = queued.thread_key) "
        "OR EXISTS (SELECT FROM deliveries AS parent WHERE parent.thread_key = queued.thread_key "
        "AND parent.action = 'upsert')) "
        "ORDER BY position")


POSTGRES_ACCEPT = _postgres_accept()


def _postgres_params(event: dict[str, Any], drafts: list[DeliveryDraft], timer: dict[str, Any] | None, *,
                     now: float) -> dict[str, Any]:
    """POSTGRES_ACCEPT's parameters: the event's row, its channels, one array per column of its deliveries,
    and its timer's and the timer's wake-up's columns (NULL, unused, when it starts none)."""
    queued, upserts = [], set()
    for draft in drafts:
        if not (draft.opens_thread and draft.thread_key in upserts):
            queued.append(draft)
        if draft.action == "upsert":
            upserts.add(draft.thread_key)
    rows = [{"recipe": None, **draft_row(draft, event["event_id"], now)} for draft in queued]
    return {**event, "channels": sorted({draft.channel for draft in drafts}),
            "opens": [draft.opens_thread for draft in queued],
            **{f"d_{name}": [row[name] for row in rows] for name in _DELIVERY_COLUMNS},
            "timer": timer is not None,
            **_prefixed("t", _TIMER_COLUMNS, None if timer is None else _timer_row(timer)),
            **_prefixed("w", _WAKE_COLUMNS, None if timer is None else _wake_row(timer, now=now))}


def _prefixed(prefix: str, names: list[str], row: dict[str, Any] | None) -> dict[str, Any]:
    return {f"{prefix}_{name}": None if row is None else row[name] for name in names}


_SQLITE_TIMER = PreparedStatement(
    sqlite.insert(judgment_timers).on_conflict_do_nothing(index_elements=[judgment_timers.c.key]),
    _TIMER_COLUMNS)
_SQLITE_WAKE = PreparedStatement(insert(jobs), _WAKE_COLUMNS)
