"""Delivery drafts as rows, and the statements that insert them: many rows to a statement, a run's
parent message only when it has none yet, and on each database the form that costs least on the webhook's
path (one prepared statement for a run's start or end on PostgreSQL, the cursor on SQLite)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from relay.store.records import PENDING, DeliveryDraft
from relay.store.sqlite import PreparedStatement
from relay.store.tables import channels, deliveries, events, messages


def draft_row(draft: DeliveryDraft, event_id: str | None, now: float) -> dict[str, Any]:
    """The row of a draft answering `event_id` (None: no event), queued at `now`."""
    return {"event_id": event_id, "thread_key": draft.thread_key, "channel": draft.channel,
            "action": draft.action, "message_key": draft.message_key, "parent_key": draft.parent_key,
            "rank": draft.rank, "template": draft.template, "payload": json.dumps(draft.payload),
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
            **({} if draft.recipe is None else {"recipe": json.dumps(draft.recipe)})}


def insert_channels(conn: Connection, names: set[str]) -> None:
    """Add the channels not known yet, without looking them up first."""
    rows = [{"channel": name, "next_allowed_at": 0.0, "joined": False} for name in sorted(names)]
    if conn.dialect.name == "sqlite":
        _SQLITE_NEW_CHANNEL.run_many(conn, rows)
        return
    conn.execute(_POSTGRES_NEW_CHANNEL, rows)


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One INSERT for many rows, which must name the same columns: a recipe is NULL in rows without one."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _SQLITE_DELIVERY.run_many(conn, [{"recipe": None, **row} for row in rows])
        return
    if any("recipe" in row for row in rows):
        rows = [{"recipe": None, **row} for row in rows]
    conn.execute(insert(deliveries), rows)


def _opening_insert() -> Any:
    """INSERT of a run's parent message that happens only when the run has none in the channel yet, mapped
    or queued: the look and the insert are one statement in the event's transaction."""
    columns = [c.name for c in deliveries.c if c.name in DRAFT_COLUMNS]
    values = {name: bindparam(f"new_{name}", type_=deliveries.c[name].type) for name in columns}
    mapped = select(messages.c.key).where(messages.c.key == values["thread_key"]).exists()
    queued = select(deliveries.c.id).where(deliveries.c.thread_key == values["thread_key"],
                                           deliveries.c.action == "upsert").exists()
    return insert(deliveries).from_select(columns, select(*values.values()).where(~mapped, ~queued))


DRAFT_COLUMNS = frozenset(draft_row(DeliveryDraft("", "", "", "", {}, recipe={}), None, 0.0))
OPENING = _opening_insert()
_POSTGRES_DELIVERY_COLUMNS = sorted(DRAFT_COLUMNS | {"recipe"})


def _postgres_accept() -> Any:
    """One INSERT of an event, its new channels and its deliveries, whose text is the same whatever the number
    of deliveries (they come as one array per column, unnested in order): PostgreSQL parses and plans it
    once per connection, and SQLAlchemy compiles it once."""
    names = [c.name for c in events.c]
    types = {name: deliveries.c[name].type.compile(dialect=postgresql.dialect())
             for name in _POSTGRES_DELIVERY_COLUMNS}
    columns = ", ".join(_POSTGRES_DELIVERY_COLUMNS)
    arrays = ", ".join(f"CAST(:d_{name} AS {types[name]}[])" for name in _POSTGRES_DELIVERY_COLUMNS)
    return text(
        f"WITH accepted AS (INSERT INTO events ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + name for name in names)})), "
        "channels_added AS (INSERT INTO channels (channel, next_allowed_at, joined) "
        "SELECT channel, 0.0, false FROM unnest(CAST(:channels AS VARCHAR[])) AS added(channel) "
        "ON CONFLICT (channel) DO NOTHING) "
        f"INSERT INTO deliveries ({columns}) SELECT {columns} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS queued({columns}, position) ORDER BY position")


POSTGRES_ACCEPT = _postgres_accept()


def postgres_accept_params(event: dict[str, Any], drafts: list[DeliveryDraft], *,
                           now: float) -> dict[str, Any]:
    """POSTGRES_ACCEPT's parameters: the event's row, its channels, and one array per delivery column."""
    rows = [{"recipe": None, **draft_row(draft, event["event_id"], now)} for draft in drafts]
    arrays = {f"d_{name}": [row[name] for row in rows] for name in _POSTGRES_DELIVERY_COLUMNS}
    return {**event, **arrays, "channels": sorted({draft.channel for draft in drafts})}


_POSTGRES_NEW_CHANNEL = postgresql.insert(channels).on_conflict_do_nothing(
    index_elements=[channels.c.channel])
# On SQLite these run inside a writer's turn, straight on the cursor (see PreparedStatement).
_SQLITE_NEW_CHANNEL = PreparedStatement(
    sqlite.insert(channels).on_conflict_do_nothing(index_elements=[channels.c.channel]),
    ["channel", "next_allowed_at", "joined"])
_SQLITE_DELIVERY = PreparedStatement(insert(deliveries), sorted(DRAFT_COLUMNS | {"recipe"}))
