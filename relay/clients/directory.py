"""Who a Slack user is: email (users.info), user by email (users.lookupByEmail) and user-group membership,
cached for a few minutes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

CACHE_SECONDS = 300.0


class SlackDirectory:
    """Looks people up in Slack; lookups that fail count as 'unknown', never as a grant."""

    def __init__(self, client: WebClient, *, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def email(self, user_id: str) -> str | None:
        """The user's email (needs users:read.email); None for bots and accounts without one."""
        def lookup() -> str | None:
            profile = self.client.users_info(user=user_id)["user"].get("profile") or {}
            return profile.get("email") or None
        return self._cached("email", user_id, lookup)

    def user_id_for_email(self, email: str) -> str | None:
        """The Slack user with this email (users.lookupByEmail, scope users:read.email), or None."""
        def lookup() -> str | None:
            return self.client.users_lookupByEmail(email=email)["user"]["id"]
        return self._cached("user", email.lower(), lookup)

    def group_members(self, group_id: str) -> frozenset[str]:
        """User IDs in a Slack user group (usergroups.users.list, scope usergroups:read)."""
        def lookup() -> frozenset[str]:
            return frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])
        return self._cached("group", group_id, lookup) or frozenset()

    def in_group(self, user_id: str, group_id: str) -> bool:
        return user_id in self.group_members(group_id)

    def _cached(self, kind: str, key: str, lookup: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit and hit[0] > now:
            return hit[1]
        try:
            value = lookup()
        except SlackApiError:
            return None
        with self._lock:
            self._cache[(kind, key)] = (now + self.ttl, value)
        return value
