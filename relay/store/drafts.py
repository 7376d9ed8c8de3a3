"""Delivery drafts as rows, and the statements that insert them: many rows to a statement, a run's
parent message only when it has none yet, run on the cursor on SQLite (see PreparedStatement)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from relay.store.records import PENDING, DeliveryDraft
from relay.store.sqlite import PreparedStatement
from relay.store.tables import channels, deliveries, messages


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


def insert_opening(conn: Connection, row: dict[str, Any]) -> None:
    """Insert a run's parent message unless the run has one in the channel, posted or queued."""
    values = {f"new_{name}": value for name, value in row.items()}
    if conn.dialect.name == "sqlite":
        _SQLITE_OPENING.run(conn, values)
        return
    conn.execute(_OPENING, values)


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
_OPENING = _opening_insert()


_POSTGRES_NEW_CHANNEL = postgresql.insert(channels).on_conflict_do_nothing(
    index_elements=[channels.c.channel])
# On SQLite these run inside a writer's turn, straight on the cursor (see PreparedStatement).
_SQLITE_NEW_CHANNEL = PreparedStatement(
    sqlite.insert(channels).on_conflict_do_nothing(index_elements=[channels.c.channel]),
    ["channel", "next_allowed_at", "joined"])
_SQLITE_DELIVERY = PreparedStatement(insert(deliveries), sorted(DRAFT_COLUMNS | {"recipe"}))
_SQLITE_OPENING = PreparedStatement(_OPENING, [])
