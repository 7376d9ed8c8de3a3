"""Who may do what from Slack: per-application rules from the config file, first matching glob wins."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from relay.models import ApproverPolicy

JUDGE, RUN, CANCEL = "judge", "run", "cancel"


class FactUnknown(Exception):
    """A fact a decision needs could not be learned (a lookup failed); the message says why and what to do."""


@dataclass(frozen=True)
class Actor:
    """The Slack user asking, as far as the relay knows them. `email_unknown` says why Slack could not tell
    their email (None when it did, or when they have none)."""

    user_id: str
    email: str | None = None
    email_unknown: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Allowed or not, and why (shown to the person refused). `unknown`: refused because a fact the decision
    needs could not be learned, so asking again may succeed."""

    allowed: bool
    reason: str
    unknown: bool = False


class Policy:
    """Rules per action (`judge`, `run`, `cancel`), each a mapping of application glob to ApproverPolicy."""

    def __init__(self, rules: Mapping[str, Mapping[str, ApproverPolicy]]) -> None:
        self.rules = rules

    def rule_for(self, action: str, application: str) -> ApproverPolicy | None:
        """The first rule whose glob matches, ignoring case as Front50 does for application names."""
        for glob, rule in self.rules.get(action, {}).items():
            if fnmatchcase(application.lower(), glob.lower()):
                return rule
        return None

    def might_allow(self, action: str, user_id: str) -> bool:
        """Whether some rule for `action` could let this Slack user in, known without asking anyone: one for
        anyone, naming them, or naming emails or groups (which only Slack can settle)."""
        return any(rule.anyone or rule.groups or user_id in rule.users or any("@" in u for u in rule.users)
                   for rule in self.rules.get(action, {}).values())

    def decide(self, action: str, application: str, actor: Actor, *, in_group: Callable[[str], bool],
               starters: Collection[str] | None = ()) -> Verdict:
        """Whether `actor` may `action` on `application`. `in_group(group_id)` asks Slack lazily and raises
        FactUnknown when Slack cannot say; `starters` name who started the run (None: Spinnaker did not
        say). A fact that is unknown never grants: the refusal says which fact and why."""
        rule = self.rule_for(action, application)
        if rule is None:
            return Verdict(False, f"no one may {action} for {application} from Slack: the relay's policy has "
                                  f"no rule for this application")
        if rule.four_eyes:
            refusal = _four_eyes(actor, starters)
            if refusal is not None:
                return refusal
        if rule.anyone:
            return Verdict(True, "anyone may")
        if actor.user_id in rule.users or (actor.email and actor.email.lower() in _lower(rule.users)):
            return Verdict(True, "listed by name")
        unknown = []
        if actor.email_unknown and any("@" in user for user in rule.users):
            unknown.append(f"Slack did not tell the relay your email, which the policy lists people by "
                           f"({actor.email_unknown})")
        for group in sorted(rule.groups):
            try:
                if in_group(group):
                    return Verdict(True, f"member of {group}")
            except FactUnknown as err:
                unknown.append(str(err))
        if unknown:
            return Verdict(False, unknown[0], unknown=True)
        return Verdict(False, f"you are not among the people allowed to {action} for {application}")

    def describe(self, action: str, application: str) -> str:
        """Who the first matching rule lets `action` on `application`, in words (the console shows it)."""
        rule = self.rule_for(action, application)
        if rule is None:
            return "nobody from Slack: no rule matches this application"
        names = sorted(rule.users) + [f"group {group}" for group in sorted(rule.groups)]
        who = "anyone" if rule.anyone else ", ".join(names) or "nobody"
        return f"{who}; not whoever started the run" if rule.four_eyes else who

    def applications_without_rules(self, action: str, applications: list[str]) -> list[str]:
        return [a for a in applications if self.rule_for(action, a) is None]


def _lower(values: frozenset[str]) -> set[str]:
    return {v.lower() for v in values}


def _four_eyes(actor: Actor, starters: Collection[str] | None) -> Verdict | None:
    """The refusal when the actor started the run, or when that cannot be ruled out; None otherwise."""
    if starters is None:
        return Verdict(False, "Spinnaker's answer does not say who started this run, and this application "
                              "needs someone other than the person who started it to approve; try again in "
                              "a minute", unknown=True)
    if any(_same_person(actor, starter) for starter in starters):
        return Verdict(False, "you started this run, and this application needs someone else to approve it")
    if actor.email_unknown and any("@" in starter for starter in starters):
        return Verdict(False, f"Slack did not tell the relay your email, so it cannot tell whether you "
                              f"started this run ({actor.email_unknown})", unknown=True)
    return None


def _same_person(actor: Actor, user: str) -> bool:
    user = user.lower()
    return user == actor.user_id.lower() or (actor.email is not None and user == actor.email.lower())
