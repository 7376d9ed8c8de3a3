"""Who may act from Slack: the relay's policy per action (judge, run, cancel) for a Slack user, and for
judgments Spinnaker's Fiat too. Every decision fails closed: a fact that could not be learned (an email, a
group membership, Fiat's answer, who started the run) refuses, saying why."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from relay.clients.directory import EMAIL_SCOPE, GROUPS_SCOPE, LookupFailed, SlackDirectory
from relay.clients.fiat import FiatUnavailable
from relay.clients.gate import GateError
from relay.models import RelayRules
from relay.rules.policy import CANCEL, JUDGE, RUN, Actor, FactUnknown, Verdict
from relay.spinnaker.execution import started_by
from relay.spinnaker.judgment_stage import required_roles

if TYPE_CHECKING:
    from relay.services import Services

NO_EMAIL = ("the relay cannot see your email address in Slack, and Spinnaker knows people by email (the "
            f"Slack app needs the {EMAIL_SCOPE} scope; bots and some accounts have no email)")


def actor(services: Services, user_id: str) -> Actor:
    """The Slack user as Slack's directory tells, with the reason when it could not tell their email."""
    if services.directory is None:
        return Actor(user_id, email_unknown="the relay has no Slack token to ask Slack with")
    try:
        return Actor(user_id, services.directory.lookup_email(user_id))
    except LookupFailed as err:
        return Actor(user_id, email_unknown=str(err))


def policy_verdict(services: Services, action: str, application: str, person: Actor, *,
                   starters: Collection[str] | None = ()) -> Verdict:
    """The policy's answer; the user groups it names are asked of Slack, and a lookup that fails refuses with
    its reason rather than counting as 'not a member'."""
    directory = services.directory

    def in_group(group_id: str) -> bool:
        if directory is None:
            raise FactUnknown(f"the relay has no Slack token to ask whether you are in user group {group_id}")
        try:
            return directory.in_group(person.user_id, group_id)
        except LookupFailed as err:
            raise FactUnknown(f"Slack did not say whether you are in user group {group_id} ({err})") from None

    return services.policy.decide(action, application, person, in_group=in_group, starters=starters)


def verdict(services: Services, action: str, application: str, user_id: str) -> Verdict:
    """The policy's answer for a Slack user known by ID, for an action Spinnaker is asked to take in their
    name: runs always carry the person's email, and with GATE_SEND_USER_HEADER every action does."""
    person = actor(services, user_id)
    answer = policy_verdict(services, action, application, person)
    if answer.allowed and person.email is None and (action == RUN or services.settings.gate_user_header):
        return _without_email(person)
    return answer


def may_view(services: Services, application: str, user_id: str) -> Verdict:
    """Read-only commands are open to anyone the policy lets judge, run or cancel on the application; when a
    fact that could have allowed it is unknown, the refusal says so."""
    person = actor(services, user_id)
    answers = [policy_verdict(services, action, application, person) for action in (JUDGE, RUN, CANCEL)]
    allowed = next((answer for answer in answers if answer.allowed), None)
    unknown = next((answer for answer in answers if answer.unknown), None)
    return allowed or unknown or Verdict(
        False, f"you are not among the people allowed to act on {application} from Slack")


def may_judge(services: Services, *, person: Actor, execution: dict[str, Any],
              stage: dict[str, Any], listing: bool = False) -> Verdict:
    """The policy for the run's application decides first (by Slack user, email or user group, and the
    four-eyes rule); with RELAY_FIAT_URL set, Fiat must also grant the clicker EXECUTE on the application
    and one of the stage's required roles. Fiat unreachable refuses as unknown. `listing` (what to offer,
    not a decision) lets Fiat's answer of the last minute do."""
    application = str(execution.get("application") or "")
    if not application:
        return Verdict(False, "Spinnaker's answer does not name the run's application, which the policy is "
                              "checked against; try again in a minute", unknown=True)
    answer = policy_verdict(services, JUDGE, application, person, starters=starters(services, execution))
    if not answer.allowed:
        return answer
    if person.email is None and (services.fiat is not None or services.settings.gate_user_header):
        return _without_email(person)
    if services.fiat is not None:
        try:
            allowed, why = services.fiat.may_judge(person.email or "", application, required_roles(stage),
                                                   cached=listing)
        except FiatUnavailable as err:
            return Verdict(False, f"Spinnaker's Fiat could not be asked whether you may judge this ({err}); "
                                  "try again in a minute", unknown=True)
        if not allowed:
            return Verdict(False, why)
    return answer


def starters(services: Services, execution: dict[str, Any]) -> list[str] | None:
    """Who started the run: everyone its trigger and authentication name (a caller of Gate's trigger API
    chooses `trigger.user`). The relay's own Gate identity is left out for runs started from Slack, where
    `trigger.user` names the Slack user. None when the execution does not say."""
    names = started_by(execution)
    if names is None or len(names) < 2:
        return names
    if not services.store.event_seen(slack_run_event_id(str(execution.get("id") or ""))):
        return names
    identity = _gate_identity(services)
    return [name for name in names if identity is None or name.lower() != identity.lower()]


def slack_run_event_id(execution_id: str) -> str:
    """The event under which the relay records a run it started from Slack."""
    return f"slack-run:{execution_id}"


def scope_gaps(rules: RelayRules, granted: frozenset[str]) -> list[str]:
    """What the policy cannot decide with the scopes Slack granted: such decisions refuse everyone."""
    gaps = []
    if EMAIL_SCOPE not in granted:
        gaps.append(f"the Slack app lacks the {EMAIL_SCOPE} scope: the relay cannot learn anyone's email, so "
                    "/spinnaker run, four-eyes judgments, judgments checked by Fiat and policies that list "
                    "emails refuse everyone")
    named = [rule for policy in (rules.approvers, rules.runners, rules.cancelers) for rule in policy.values()]
    if GROUPS_SCOPE not in granted and any(rule.groups for rule in named):
        gaps.append(f"the Slack app lacks the {GROUPS_SCOPE} scope: the policy names Slack user groups, and "
                    "nobody is allowed through them")
    return gaps


def scope_warnings(directory: SlackDirectory | None, rules: RelayRules) -> list[str]:
    """Said at startup: what the policy cannot decide with the scopes Slack granted the app."""
    if directory is None:
        return []
    try:
        granted = directory.scopes()
    except LookupFailed as err:
        return [f"could not ask Slack which scopes the app has: {err}"]
    return scope_gaps(rules, granted) if granted is not None else []


def _without_email(person: Actor) -> Verdict:
    if person.email_unknown:
        return Verdict(False, f"Slack did not tell the relay your email, which Spinnaker knows people by "
                              f"({person.email_unknown})", unknown=True)
    return Verdict(False, NO_EMAIL)


def _gate_identity(services: Services) -> str | None:
    """Who Gate takes the relay for: GATE_USERNAME, else Gate's own answer; None when Gate cannot say."""
    if services.settings.gate_username:
        return services.settings.gate_username
    try:
        return services.gate.identity() if services.gate is not None else None
    except GateError:
        return None
