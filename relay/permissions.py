"""Asking the policy about a Slack user: their email and group memberships come from the Slack directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.policy import CANCEL, JUDGE, RUN, Actor, Verdict

if TYPE_CHECKING:
    from relay.services import Services


def verdict(services: Services, action: str, application: str, user_id: str, *,
            triggered_by: str | None = None) -> Verdict:
    """Whether this Slack user may `action` on `application`; lookups that fail never grant anything."""
    directory = services.directory
    email = directory.email(user_id) if directory else None

    def in_group(group_id: str) -> bool:
        return directory is not None and directory.in_group(user_id, group_id)

    return services.policy.decide(action, application, Actor(user_id, email), in_group=in_group,
                                  triggered_by=triggered_by)


def may_view(services: Services, application: str, user_id: str) -> Verdict:
    """Read-only commands are open to anyone the policy lets judge, run or cancel on the application."""
    for action in (JUDGE, RUN, CANCEL):
        answer = verdict(services, action, application, user_id)
        if answer.allowed:
            return answer
    return Verdict(False, f"you are not among the people allowed to act on {application} from Slack")
