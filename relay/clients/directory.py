"""Who a Slack user is: email (users.info), user by email (users.lookupByEmail) and user-group membership,
cached for a few minutes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from relay.clients.slack import classify, granted_scopes

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
EMAIL_SCOPE, GROUPS_SCOPE = "users:read.email", "usergroups:read"


class LookupFailed(Exception):
    """Slack could not say (rate limited, timed out, a scope missing): the fact is unknown, not absent. The
    message says why and what to do."""


class SlackDirectory:
    """Looks people up in Slack. Answers are cached; failures are not, so asking again may succeed."""

    def __init__(self, client: WebClient, *, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def lookup_email(self, user_id: str) -> str | None:
        """The user's email; None for bots and accounts without one. Raises LookupFailed when Slack cannot
        say, including when the app lacks users:read.email (Slack then leaves every email out)."""
        def lookup() -> str | None:
            response = self.client.users_info(user=user_id)
            scopes = granted_scopes(response)
            if scopes is not None and EMAIL_SCOPE not in scopes:
                log.warning("the Slack app lacks the %s scope: nobody's email can be known", EMAIL_SCOPE)
                raise LookupFailed(f"the Slack app lacks the {EMAIL_SCOPE} scope, so Slack shows no one's "
                                   "email; a Slack admin must add the scope and reinstall the app")
            profile = response["user"].get("profile") or {}
            return profile.get("email") or None
        return self._cached("email", user_id, lookup, "users.info")

    def email(self, user_id: str) -> str | None:
        """The user's email for display and audit, None when unknown; decisions use lookup_email."""
        try:
            return self.lookup_email(user_id)
        except LookupFailed:
            return None

    def user_id_for_email(self, email: str) -> str | None:
        """The Slack user with this email (users.lookupByEmail, scope users:read.email), or None when there
        is none or Slack cannot say."""
        def lookup() -> str | None:
            return self.client.users_lookupByEmail(email=email)["user"]["id"]
        try:
            return self._cached("user", email.lower(), lookup, "users.lookupByEmail")
        except LookupFailed:
            return None

    def group_members(self, group_id: str) -> frozenset[str]:
        """User IDs in a Slack user group (usergroups.users.list, scope usergroups:read); raises
        LookupFailed when Slack cannot say."""
        def lookup() -> frozenset[str]:
            return frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])
        return self._cached("group", group_id, lookup, "usergroups.users.list")

    def in_group(self, user_id: str, group_id: str) -> bool:
        return user_id in self.group_members(group_id)

    def scopes(self) -> frozenset[str] | None:
        """The scopes Slack granted the app (auth.test's x-oauth-scopes), or None when Slack does not say;
        raises LookupFailed when Slack cannot be asked."""
        try:
            return granted_scopes(self.client.auth_test())
        except (SlackApiError, OSError) as err:
            raise _failure("auth.test", err) from None

    def _cached(self, kind: str, key: str, lookup: Callable[[], Any], method: str) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit and hit[0] > now:
            return hit[1]
        try:
            value = lookup()
        except (SlackApiError, OSError) as err:  # OSError: timeouts and refused connections
            raise _failure(method, err) from None
        with self._lock:
            self._cache[(kind, key)] = (now + self.ttl, value)
        return value


def _failure(method: str, err: Exception) -> LookupFailed:
    """Why a lookup failed, and what to do about it, in words for the person refused."""
    failure = classify(err)
    if failure.rate_limited:
        return LookupFailed(f"Slack is rate-limiting the relay's {method} calls; try again in a minute")
    if failure.error == "missing_scope":
        needed = err.response.get("needed") if isinstance(err, SlackApiError) else None
        scope = f"the {needed} scope" if needed else f"a scope {method} needs"
        return LookupFailed(f"the Slack app lacks {scope}; a Slack admin must add it and reinstall the app")
    if isinstance(err, OSError):
        return LookupFailed(f"Slack could not be reached or did not answer {method} in time; try again in a "
                            "minute")
    return LookupFailed(f"Slack answered {method} with {failure.error}; try again in a minute")
