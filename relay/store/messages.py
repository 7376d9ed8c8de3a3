"""The message map: where each Slack message the relay posted lives, and the state it shows."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from relay.store.database import Database
from relay.store.queues import like_prefix
from relay.store.records import MessageRef
from relay.store.tables import messages


class MessageMap(Database):
    """The message map."""

    def message(self, key: str) -> MessageRef | None:
        with self._reading() as conn:
            row = conn.execute(select(messages).where(messages.c.key == key)).mappings().first()
        return MessageRef(channel=row["channel"], ts=row["ts"], rank=row["rank"]) if row else None

    def messages_with_prefix(self, prefix: str) -> dict[str, MessageRef]:
        """Every mapped message whose key starts with `prefix` (e.g. one stage's messages in all channels)."""
        with self.engine.connect() as conn:
            matching = messages.c.key.like(like_prefix(prefix), escape="\\")
            rows = conn.execute(select(messages).where(matching)).mappings()
            return {r["key"]: MessageRef(channel=r["channel"], ts=r["ts"], rank=r["rank"]) for r in rows}

    def remember_message(self, key: str, ref: MessageRef, *, now: float) -> None:
        """Map a key (a run in a channel, or a judgment stage) to its Slack message; last writer wins."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(messages).where(messages.c.key == key).values(
                channel=ref.channel, ts=ref.ts, rank=ref.rank, updated_at=now)).rowcount
            if not changed:
                conn.execute(insert(messages).values(key=key, channel=ref.channel, ts=ref.ts, rank=ref.rank,
                                                     updated_at=now))
