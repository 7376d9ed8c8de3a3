"""Which reminder policy of the YAML rules applies to an application: first matching glob wins, ignoring
case as Front50 does for application names."""

from __future__ import annotations

from fnmatch import fnmatchcase

from relay.models import RelayRules, ReminderPolicy


def reminder_policy(rules: RelayRules, application: str | None) -> ReminderPolicy | None:
    """The first `reminders` rule whose glob matches `application`, or None."""
    for glob, policy in rules.reminders.items():
        if fnmatchcase((application or "").lower(), glob.lower()):
            return policy
    return None
