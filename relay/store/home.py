"""The App Home's users: who opened the relay's Home tab, so their tab is kept up to date."""

from __future__ import annotations

from sqlalchemy import select

from relay.store.database import Database, dialect_insert
from relay.store.tables import home_users


class HomeQueries(Database):
    """Home tab users."""

    def remember_home_user(self, user_id: str, *, now: float) -> None:
        """Note that `user_id` opened the Home tab now (their tab is then kept up to date)."""
        upsert = dialect_insert(self.is_postgres)(home_users).values(user_id=user_id, opened_at=now)
        upsert = upsert.on_conflict_do_update(index_elements=[home_users.c.user_id],
                                              set_={"opened_at": now})
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def home_users(self, *, since: float) -> list[str]:
        """Users who opened the Home tab at `since` or later."""
        query = (select(home_users.c.user_id).where(home_users.c.opened_at >= since)
                 .order_by(home_users.c.user_id))
        with self._reading() as conn:
            return list(conn.execute(query).scalars())
