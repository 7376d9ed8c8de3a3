"""Who may judge a Manual Judgment from Slack: the relay's policy (with four-eyes), then Spinnaker's Fiat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.execution import triggered_by
from relay.judgment_state import required_roles
from relay.policy import JUDGE, Actor, Verdict

if TYPE_CHECKING:
    from relay.services import Services


def may_judge(services: Services, *, user_id: str, email: str | None, execution: dict[str, Any],
              stage: dict[str, Any]) -> Verdict:
    """The policy for the run's application decides first (by Slack user, email or user group, and the
    four-eyes rule); with RELAY_FIAT_URL set, Fiat must also grant the clicker EXECUTE on the application
    and one of the stage's required roles. Raises FiatUnavailable when Fiat cannot be asked."""
    application = str(execution.get("application") or "")
    directory = services.directory

    def in_group(group_id: str) -> bool:
        return directory is not None and directory.in_group(user_id, group_id)

    verdict = services.policy.decide(JUDGE, application, Actor(user_id, email), in_group=in_group,
                                     triggered_by=triggered_by(execution))
    if not verdict.allowed:
        return verdict
    if not email and (services.fiat is not None or services.settings.gate_user_header):
        return Verdict(False, "Spinnaker knows people by email, and Slack did not tell the relay yours "
                              "(the app needs the users:read.email scope)")
    if services.fiat is not None:
        allowed, why = services.fiat.may_judge(email or "", application, required_roles(stage))
        if not allowed:
            return Verdict(False, why)
    return verdict
