"""Who may act from Slack: the relay's policy per action (judge, run, cancel) for a Slack user, and for
judgments Spinnaker's Fiat too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.access.policy import CANCEL, JUDGE, RUN, Actor, Verdict
from relay.spinnaker.execution import triggered_by
from relay.spinnaker.judgment_stage import required_roles

if TYPE_CHECKING:
    from relay.services import Services


def policy_verdict(services: Services, action: str, application: str, actor: Actor, *,
                   triggered_by: str | None = None) -> Verdict:
    """The policy's answer; the user groups it names are asked of Slack, and a lookup that fails never
    grants anything."""
    directory = services.directory

    def in_group(group_id: str) -> bool:
        return directory is not None and directory.in_group(actor.user_id, group_id)

    return services.policy.decide(action, application, actor, in_group=in_group, triggered_by=triggered_by)


def verdict(services: Services, action: str, application: str, user_id: str) -> Verdict:
    """The policy's answer for a Slack user known by ID; their email comes from Slack's directory."""
    email = services.directory.email(user_id) if services.directory else None
    return policy_verdict(services, action, application, Actor(user_id, email))


def may_view(services: Services, application: str, user_id: str) -> Verdict:
    """Read-only commands are open to anyone the policy lets judge, run or cancel on the application."""
    for action in (JUDGE, RUN, CANCEL):
        answer = verdict(services, action, application, user_id)
        if answer.allowed:
            return answer
    return Verdict(False, f"you are not among the people allowed to act on {application} from Slack")


def may_judge(services: Services, *, user_id: str, email: str | None, execution: dict[str, Any],
              stage: dict[str, Any]) -> Verdict:
    """The policy for the run's application decides first (by Slack user, email or user group, and the
    four-eyes rule); with RELAY_FIAT_URL set, Fiat must also grant the clicker EXECUTE on the application
    and one of the stage's required roles. Raises FiatUnavailable when Fiat cannot be asked."""
    application = str(execution.get("application") or "")
    answer = policy_verdict(services, JUDGE, application, Actor(user_id, email),
                            triggered_by=triggered_by(execution))
    if not answer.allowed:
        return answer
    if not email and (services.fiat is not None or services.settings.gate_user_header):
        return Verdict(False, "Spinnaker knows people by email, and Slack did not tell the relay yours "
                              "(the app needs the users:read.email scope)")
    if services.fiat is not None:
        allowed, why = services.fiat.may_judge(email or "", application, required_roles(stage))
        if not allowed:
            return Verdict(False, why)
    return answer
