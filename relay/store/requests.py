"""Slack requests taken (each signed request acts once) and how many commands each person sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from relay.store.database import Database, dialect_insert
from relay.store.tables import command_counts, slack_requests


class RequestQueries(Database):
    """Slack requests taken (each signed request acts once) and how many commands each person sent.."""

    def take_slack_request(self, key: str, *, expires_at: float, now: float,
                           job: tuple[str, dict[str, Any]] | None = None) -> bool:
        """Remember a Slack request (a signature's, an envelope's or an event's hash) until `expires_at`, and
        queue `job` (kind, payload) in the same transaction; False, with nothing queued, if it was taken
        before, on any replica. Expired ones are pruned on the way."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(slack_requests).where(slack_requests.c.expires_at < now))
                conn.execute(insert(slack_requests), {"key": key, "expires_at": expires_at})
                if job is not None:
                    self.enqueue_job(*job, now=now, conn=conn)
        except IntegrityError:
            return False
        return True

    def count_command(self, user_id: str, *, now: float, window: int = 60) -> int:
        """Count one command by `user_id` in the current `window` seconds and return the window's count so
        far; every replica counts in the same row, and the user's earlier windows are dropped."""
        start = int(now // window) * window
        upsert = dialect_insert(self.is_postgres)(command_counts).values(user_id=user_id, window_start=start,
                                                                        count=1)
        upsert = upsert.on_conflict_do_update(index_elements=[command_counts.c.user_id,
                                                              command_counts.c.window_start],
                                              set_={"count": command_counts.c.count + 1})
        with self.engine.begin() as conn:
            count = conn.execute(upsert.returning(command_counts.c.count)).scalar_one()
            conn.execute(delete(command_counts).where(command_counts.c.user_id == user_id,
                                                      command_counts.c.window_start < start))
        return count
