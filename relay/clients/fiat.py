"""Fiat client: what Spinnaker's authorization service says a user may do (`GET /authorize/{user}`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from cachetools import TTLCache

from relay.clients.deadline import DeadlinePassed, bounded


class FiatUnavailable(Exception):
    """Fiat could not be asked (unreachable, timed out, or a 5xx); worth asking again later."""


@dataclass(frozen=True)
class FiatPermission:
    """A user's permissions as Fiat's UserPermission view reports them."""

    admin: bool
    roles: frozenset[str]
    applications: dict[str, frozenset[str]]  # lower-cased application name -> authorizations
    unknown_applications_allowed: bool = False

    def may(self, authorization: str, application: str) -> bool:
        """Whether the user holds `authorization` (READ, WRITE, EXECUTE…) on the application."""
        if self.admin:
            return True
        granted = self.applications.get(application.lower())
        if granted is None:
            return self.unknown_applications_allowed
        return authorization.upper() in granted


# How long Fiat's answer about a user may be reused by a caller that says a recent one will do: the App Home
# asks about one person once per waiting judgment on every refresh. Clicks always ask Fiat afresh, so a role
# granted or taken away counts at once where it decides something. Failures are never kept.
CACHE_SECONDS = 60.0
CACHE_USERS = 1024
_NOT_KEPT: Any = object()


class FiatClient:
    """Asks Fiat about users. 404 means Fiat does not know the user, which grants nothing. Answers are kept
    per user for `cache_seconds`, bounded to `cache_users` people, for callers asking with `cached=True`."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, cache_seconds: float = CACHE_SECONDS,
                 cache_users: int = CACHE_USERS, clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self._answers: TTLCache[str, FiatPermission | None] = TTLCache(cache_users, cache_seconds,
                                                                       timer=clock)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; Fiat is asked outside the lock

    def permission(self, user: str, *, cached: bool = False) -> FiatPermission | None:
        """The user's permissions, or None when Fiat has never heard of them; with `cached`, Fiat's answer
        from the last `cache_seconds` when there is one."""
        key = user.lower()
        with self._lock:
            kept = self._answers.get(key, _NOT_KEPT) if cached else _NOT_KEPT
        if kept is not _NOT_KEPT:
            return kept
        answer = self._ask(key)
        with self._lock:
            self._answers[key] = answer
        return answer

    def _ask(self, user: str) -> FiatPermission | None:
        """Fiat's answer now; FiatUnavailable (never cached) when there is none."""
        url = f"{self.base_url}/authorize/{quote(user, safe='@')}"
        try:
            response = self.session.get(url, timeout=bounded(self.timeout))
        except (requests.RequestException, DeadlinePassed) as err:
            raise FiatUnavailable(f"Fiat unreachable: {type(err).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise FiatUnavailable(f"Fiat answered {response.status_code}")
        try:
            view = response.json()
        except ValueError:
            raise FiatUnavailable("Fiat answered with something other than JSON") from None
        return _permission(view if isinstance(view, dict) else {})

    def may_judge(self, user: str, application: str, required_roles: Iterable[str], *,
                  cached: bool = False) -> tuple[bool, str]:
        """Orca's rule plus Gate's: EXECUTE on the application and, when the stage names roles, one of
        them (admins pass both). Returns (allowed, why not). `cached` as for `permission`."""
        permission = self.permission(user, cached=cached)
        if permission is None:
            return False, f"Spinnaker's Fiat does not know {user}"
        if not permission.may("EXECUTE", application):
            return False, f"{user} has no EXECUTE permission on {application} in Spinnaker"
        required = frozenset(required_roles)
        if required and not permission.admin and not required & permission.roles:
            roles = ", ".join(sorted(required))
            return False, f"{user} holds none of the roles this stage requires ({roles})"
        return True, "allowed by Fiat"


def _permission(view: dict[str, Any]) -> FiatPermission:
    roles = frozenset(str(role["name"]) for role in view.get("roles") or []
                      if isinstance(role, dict) and role.get("name"))
    applications = {
        str(a["name"]).lower(): frozenset(str(x).upper() for x in a.get("authorizations") or [])
        for a in view.get("applications") or [] if isinstance(a, dict) and a.get("name")}
    return FiatPermission(admin=view.get("admin") is True, roles=roles, applications=applications,
                          unknown_applications_allowed=view.get("allowAccessToUnknownApplications") is True)
