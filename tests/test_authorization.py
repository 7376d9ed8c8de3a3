"""Authorization fails closed: attacks on the four-eyes rule and the policy over real HTTP, against a relay
serving the Slack endpoints with a fake Slack and a fake Gate behind it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from relay.clients.directory import SlackDirectory
from relay.clients.slack import build_client
from relay.commands.launch import announce
from relay.models import ApproverPolicy, RelayRules
from relay.rules.policy import JUDGE, Actor, FactUnknown, Policy
from relay.spinnaker.execution import started_by
from tests import events
from tests.chatops import answers, command_fields, form_body
from tests.fake_gate import FakeFiat, FakeGate
from tests.fakes import DEFAULT_SCOPES, FakeSlack, Message
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    ECHO_TOKEN,
    JUDGMENT_CHANNEL,
    OTHER,
    OTHER_EMAIL,
    RELAY_IDENTITY,
    STAGE_ID,
    STARTER,
    STARTER_EMAIL,
    World,
    buttons,
    judgment_world,
)
from tests.processes import ROOT, Relay, free_port, http_status, wait_until
from tests.slack_requests import SIGNING_SECRET, block_actions, form, signed

FOUR_EYES = RelayRules(approvers={"compute": ApproverPolicy(anyone=True, four_eyes=True)})
WITHOUT_EMAIL_SCOPE = ",".join(s for s in DEFAULT_SCOPES.split(",") if s != "users:read.email")
WITHOUT_GROUPS_SCOPE = ",".join(s for s in DEFAULT_SCOPES.split(",") if s != "usergroups:read")


# Faults Slack can have while people click: each starts on `method` and returns how Slack recovers.


def rate_limit(world: World, method: str) -> Callable[[], None]:
    world.slack.fail_next(method, status=429, retry_after=1, count=2)
    return lambda: None


def time_out(world: World, method: str) -> Callable[[], None]:
    world.slack.fail_next(method, delay=3.0, count=2)  # the relay's Slack client gives up after 1 s
    return lambda: None


def revoke_scope(scopes: str) -> Callable[[World, str], Callable[[], None]]:
    def revoke(world: World, method: str) -> Callable[[], None]:
        world.slack.scopes = scopes
        return lambda: setattr(world.slack, "scopes", DEFAULT_SCOPES)
    return revoke


def approve(world: World, user: str) -> None:
    """`user` clicks Approve over HTTP; the ack comes at once, the dispatcher then resolves the click."""
    response = world.click(world.judgment_message(), "judgment.choose.0", user=user)
    assert response.status_code == 200
    world.drain()


def statuses(world: World) -> list[tuple[str, str]]:
    return [(j.user_id, j.status) for j in world.judgments()]


def quick_directory(world: World) -> SlackDirectory:
    """A directory whose Slack calls give up after a second, so a timeout costs a test little."""
    return SlackDirectory(build_client(token=world.slack.token, base_url=world.slack.api_url, timeout=1.0))


@pytest.mark.parametrize(("fault", "why"), [
    (rate_limit, "rate-limiting"),
    (time_out, "did not answer users.info in time"),
    (revoke_scope(WITHOUT_EMAIL_SCOPE), "lacks the users:read.email scope"),
])
def test_authorization_refuses_the_starter_when_slack_cannot_tell_their_email(tmp_path: Path, fault,
                                                                               why: str) -> None:
    with judgment_world(tmp_path, rules=FOUR_EYES, http=True) as world:
        world.services.directory = quick_directory(world)
        world.start_judgment()
        recover = fault(world, "users.info")

        approve(world, STARTER)
        approve(world, OTHER)

        assert world.gate.calls_to("judge") == []
        for user in (STARTER, OTHER):
            [note] = world.told(user)
            assert "Nothing was decided, because the relay could not check" in note
            assert "cannot tell whether you started this run" in note and why in note
        assert statuses(world) == [(STARTER, "refused"), (OTHER, "refused")]

        recover()
        approve(world, STARTER)
        approve(world, OTHER)

        assert "you started this run" in world.told(STARTER)[-1]
        [patch] = world.gate.calls_to("judge")
        assert patch.body["judgedViaSlackBy"] == OTHER_EMAIL
        assert statuses(world)[2:] == [(STARTER, "refused"), (OTHER, "decided")]


@pytest.mark.parametrize("started", [
    {"trigger": {"type": "manual", "user": "someone-else@example.com"},
     "authentication": {"user": STARTER_EMAIL.upper()}},
    {"trigger": {"type": "manual", "user": "[anonymous]"}, "authentication": {"user": STARTER_EMAIL}},
    {"trigger": {"type": "pipeline", "user": "someone-else@example.com",
                 "parentExecution": {"trigger": {"type": "manual", "user": STARTER_EMAIL},
                                     "authentication": {"user": "anonymous"}}},
     "authentication": {"user": "anonymous"}},
    {"trigger": {"type": "manual", "user": STARTER}, "authentication": {"user": "anonymous"}},
], ids=["authenticated-as-starter", "anonymous-trigger", "parent-started-by-starter", "slack-user-id"])
def test_authorization_four_eyes_knows_the_starter_whatever_the_trigger_says(tmp_path: Path,
                                                                             started: dict) -> None:
    with judgment_world(tmp_path, rules=FOUR_EYES, http=True) as world:
        world.start_judgment(events.execution(**started))

        approve(world, STARTER)

        assert "you started this run" in world.told(STARTER)[0]
        assert world.gate.calls_to("judge") == []
        approve(world, OTHER)
        assert statuses(world) == [(STARTER, "refused"), (OTHER, "decided")]


@pytest.mark.parametrize("unsaid", ["trigger", "application"])
def test_authorization_refuses_when_spinnakers_answer_leaves_out_what_the_policy_needs(tmp_path: Path,
                                                                                      unsaid: str) -> None:
    rules = RelayRules(approvers={"*": ApproverPolicy(anyone=True, four_eyes=True)})
    with judgment_world(tmp_path, rules=rules, http=True) as world:
        run = events.execution()
        world.start_judgment(run)
        world.gate.add_execution({key: value for key, value in run.items() if key != unsaid})

        approve(world, OTHER)

        [note] = world.told(OTHER)
        assert "Nothing was decided" in note and "Spinnaker's answer does not" in note
        assert world.gate.calls_to("judge") == []


@pytest.mark.parametrize("from_slack", [True, False])
def test_authorization_four_eyes_ignores_the_relays_gate_identity_only_for_runs_started_from_slack(
        tmp_path: Path, from_slack: bool) -> None:
    # The relay's Gate account shares a person's email: Gate records it as who authenticated for every run
    # the relay starts, while trigger.user names the Slack user who asked.
    with judgment_world(tmp_path, rules=FOUR_EYES, gate_options={"identity": OTHER_EMAIL},
                        http=True) as world:
        run = events.execution(trigger={"type": "manual", "user": STARTER_EMAIL},
                               authentication={"user": OTHER_EMAIL})
        if from_slack:
            announce(world.services, {"application": "compute", "pipeline": run["name"], "parameters": {},
                                      "address": "#deploys", "user_id": STARTER}, run["id"])
        world.start_judgment(run)

        approve(world, STARTER)
        approve(world, OTHER)

        assert "you started this run" in world.told(STARTER)[0]
        assert statuses(world) == [(STARTER, "refused"), (OTHER, "decided" if from_slack else "refused")]
        assert len(world.gate.calls_to("judge")) == (1 if from_slack else 0)


@pytest.mark.parametrize("fault", [rate_limit, revoke_scope(WITHOUT_GROUPS_SCOPE)],
                         ids=["rate-limited", "missing-scope"])
def test_authorization_unknown_group_membership_refuses_and_says_so(tmp_path: Path, fault) -> None:
    rules = RelayRules(approvers={"compute": ApproverPolicy(groups=frozenset({"S0DEPLOYERS"}))})
    with judgment_world(tmp_path, rules=rules, http=True) as world:
        world.slack.add_usergroup("S0DEPLOYERS", [APPROVER, OTHER])
        world.start_judgment()
        recover = fault(world, "usergroups.users.list")

        approve(world, APPROVER)
        approve(world, OTHER)

        for user in (APPROVER, OTHER):
            [note] = world.told(user)
            assert "Nothing was decided" in note and "whether you are in user group S0DEPLOYERS" in note
        assert world.gate.calls_to("judge") == []
        recover()
        approve(world, APPROVER)
        assert statuses(world) == [(APPROVER, "refused"), (OTHER, "refused"), (APPROVER, "decided")]


def test_authorization_refuses_while_fiat_is_down_and_a_click_after_it_is_back_goes_through(
        tmp_path: Path) -> None:
    with FakeFiat() as fiat:
        fiat.add_user(APPROVER_EMAIL, applications={"compute": ["EXECUTE"]})
        fiat.outage(503)
        with judgment_world(tmp_path, fiat_url=fiat.url, http=True) as world:
            world.start_judgment()

            approve(world, APPROVER)

            [note] = world.told(APPROVER)
            assert "Nothing was decided" in note and "Fiat could not be asked" in note
            assert world.gate.calls_to("judge") == []
            fiat.outage(None)
            approve(world, APPROVER)
            assert statuses(world) == [(APPROVER, "refused"), (APPROVER, "decided")]


def slash(world: World, text: str, *, user: str) -> tuple[dict, str]:
    """`user` types `/spinnaker <text>` in #deploys, over HTTP; the ack's body and the command's response_url,
    once the jobs it queued have run."""
    fields = command_fields(world.slack, text, user=user)
    raw = form_body(fields)
    response = requests.post(f"{world.url}/slack/commands", data=raw, timeout=10, headers={
        **world.signed(raw), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    world.drain()
    return response.json(), fields["response_url"]


@pytest.mark.parametrize("verb", ["cancel", "pause"])
def test_authorization_controls_sent_in_the_users_name_refuse_when_slack_cannot_tell_their_email(
        tmp_path: Path, verb: str) -> None:
    # With GATE_SEND_USER_HEADER, Spinnaker checks the person the relay names: acting with no name would
    # act as the relay itself.
    rules = RelayRules(cancelers={"compute": ApproverPolicy(anyone=True)})
    with judgment_world(tmp_path, rules=rules, gate_user_header=True, http=True) as world:
        run = events.execution()
        world.gate.add_execution(run)
        world.slack.fail_next("users.info", status=429, retry_after=1, count=5)

        _, response_url = slash(world, f"{verb} {run['id']}", user=OTHER)

        [answer] = answers(world.slack, response_url)
        assert "Slack did not tell the relay your email" in answer["text"]
        assert "rate-limiting" in answer["text"] and "blocks" not in answer
        assert world.gate.calls_to(verb) == []


def test_authorization_status_through_a_group_slack_cannot_list_is_refused_saying_so(tmp_path: Path) -> None:
    rules = RelayRules(cancelers={"compute": ApproverPolicy(groups=frozenset({"S0DEPLOYERS"}))})
    with judgment_world(tmp_path, rules=rules, http=True) as world:
        world.slack.add_usergroup("S0DEPLOYERS", [OTHER])
        world.slack.fail_next("usergroups.users.list", status=429, retry_after=1)

        _, refused_url = slash(world, "status compute", user=OTHER)
        _, allowed_url = slash(world, "status compute", user=OTHER)

        [refused] = answers(world.slack, refused_url)
        assert "Slack did not say whether you are in user group S0DEPLOYERS" in refused["text"]
        assert "rate-limiting" in refused["text"]
        [allowed] = answers(world.slack, allowed_url)
        assert not allowed["text"].startswith(":no_entry:")
        assert len(world.gate.calls_to("list_executions")) == 1


@pytest.mark.slow
def test_authorization_running_relay_without_the_email_scope_says_so_at_startup_and_refuses_the_starter(
        tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "relay.yaml"
    config.write_text("approvers:\n  compute:\n    anyone: true\n    four_eyes: true\n")
    with FakeSlack(scopes=WITHOUT_EMAIL_SCOPE) as slack, FakeGate(identity=RELAY_IDENTITY) as gate:
        for user, email in ((STARTER, STARTER_EMAIL), (OTHER, OTHER_EMAIL)):
            slack.add_user(user, email=email)
        run = events.execution()
        gate.add_execution(run)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": slack.token,
               "SLACK_API_URL": slack.api_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "GATE_URL": gate.url,
               "RELAY_ECHO_TOKEN": ECHO_TOKEN, "RELAY_CONFIG": str(config), "RELAY_CHANNEL_INTERVAL": "0",
               "RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'relay.sqlite3'}"}
        relay = Relay(["serve", "--upgrade", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "relay.log",
                      cwd=tmp_path)
        base = f"http://127.0.0.1:{port}"

        def click(message: Message, user: str) -> None:
            raw = form(block_actions(message, "judgment.choose.0", user=user,
                                     trigger_id=slack.issue_trigger(), response_url=slack.new_response_url()))
            acked = requests.post(f"{base}/slack/interactions", data=raw, headers=signed(raw), timeout=5)
            assert acked.status_code == 200

        def told(user: str) -> list[str]:
            return [m.text for m in slack.ephemerals() if m.visible_to == user]

        try:
            wait_until(lambda: http_status(f"{base}/healthz") == 200, 60, "the relay to serve", [relay])
            event = events.stage_event("starting", run, stage_id=STAGE_ID)
            accepted = requests.post(f"{base}/echo/events/", json=event, timeout=5,
                                     headers={"Authorization": f"Bearer {ECHO_TOKEN}"})
            assert accepted.status_code == 202
            message = slack.wait_for(lambda: next((m for m in _replies(slack) if buttons(m)), None),
                                     timeout=20)

            click(message, STARTER)
            [note] = slack.wait_for(lambda: told(STARTER), timeout=20)
            slack.scopes = DEFAULT_SCOPES  # a Slack admin adds the scope; a click now goes through
            click(message, STARTER)
            slack.wait_for(lambda: len(told(STARTER)) == 2, timeout=20)
            click(message, OTHER)
            gate.wait_for(lambda: gate.calls_to("judge"), timeout=20)
        finally:
            relay.stop(timeout=60)
        assert "lacks the users:read.email scope" in relay.log.read_text()
        assert "Nothing was decided" in note and "lacks the users:read.email scope" in note
        assert "you started this run" in told(STARTER)[1]
        [patch] = gate.calls_to("judge")
        assert patch.body["judgedViaSlackBy"] == OTHER_EMAIL


def _replies(slack: FakeSlack) -> list[Message]:
    return [reply for parent in slack.messages(JUDGMENT_CHANNEL)
            for reply in slack.replies(JUDGMENT_CHANNEL, parent.ts)]


# --- the decision table, with no I/O ---------------------------------------------------------------------

SLOW_SLACK = "Slack is rate-limiting the relay's users.info calls; try again in a minute"


def member_of(*known: str, unknown: tuple[str, ...] = ()) -> Callable[[str], bool]:
    def in_group(group: str) -> bool:
        if group in unknown:
            raise FactUnknown(f"Slack did not say whether you are in user group {group}")
        return group in known
    return in_group


@pytest.mark.parametrize(("rule", "actor", "in_group", "starters", "expected"), [
    (ApproverPolicy(anyone=True, four_eyes=True), Actor(OTHER, email_unknown=SLOW_SLACK), member_of(),
     [STARTER_EMAIL], (False, True, "cannot tell whether you started this run")),
    (ApproverPolicy(anyone=True, four_eyes=True), Actor(STARTER, email_unknown=SLOW_SLACK), member_of(),
     [STARTER], (False, False, "you started this run")),
    (ApproverPolicy(anyone=True, four_eyes=True), Actor(OTHER, email_unknown=SLOW_SLACK), member_of(),
     [], (True, False, "anyone may")),
    (ApproverPolicy(anyone=True, four_eyes=True), Actor(OTHER, OTHER_EMAIL), member_of(), None,
     (False, True, "does not say who started this run")),
    (ApproverPolicy(anyone=True, four_eyes=True), Actor(OTHER, OTHER_EMAIL), member_of(),
     ["x@example.com", OTHER_EMAIL.upper()], (False, False, "you started this run")),
    (ApproverPolicy(users=frozenset({OTHER})), Actor(OTHER, email_unknown=SLOW_SLACK), member_of(), [],
     (True, False, "listed by name")),
    (ApproverPolicy(users=frozenset({OTHER_EMAIL})), Actor(OTHER, email_unknown=SLOW_SLACK), member_of(), [],
     (False, True, "which the policy lists people by")),
    (ApproverPolicy(users=frozenset({OTHER_EMAIL})), Actor(OTHER), member_of(), [],
     (False, False, "not among the people allowed")),
    (ApproverPolicy(groups=frozenset({"S1", "S2"})), Actor(OTHER), member_of("S2", unknown=("S1",)), [],
     (True, False, "member of S2")),
    (ApproverPolicy(groups=frozenset({"S1", "S2"})), Actor(OTHER), member_of(unknown=("S1",)), [],
     (False, True, "whether you are in user group S1")),
], ids=["email-unknown-starter-named", "starter-by-slack-id", "nobody-started-it", "starter-unsaid",
        "starter-authenticated", "listed-by-id", "listed-by-email-unknown", "no-email", "other-group-grants",
        "group-unknown"])
def test_authorization_policy_decision_fails_closed_on_unknown_facts(rule: ApproverPolicy, actor: Actor,
                                                                    in_group, starters, expected) -> None:
    answer = Policy({"judge": {"compute": rule}}).decide("judge", "compute", actor, in_group=in_group,
                                                          starters=starters)

    allowed, unknown, reason = expected
    assert (answer.allowed, answer.unknown) == (allowed, unknown)
    assert reason in answer.reason


@pytest.mark.parametrize(("execution", "expected"), [
    ({"trigger": {"user": "a@x.io"}, "authentication": {"user": "B@x.io"}}, ["a@x.io", "B@x.io"]),
    ({"trigger": {"user": "[anonymous]"}, "authentication": {"user": "anonymous"}}, []),
    ({"trigger": {"user": "a@x.io"}, "authentication": {"user": "A@X.IO"}}, ["a@x.io"]),
    ({"trigger": {"type": "pipeline", "parentExecution": {"trigger": {"user": "p@x.io"}}}}, ["p@x.io"]),
    ({"authentication": {"user": "b@x.io"}}, None),
])
def test_authorization_started_by_names_everyone_who_started_the_run(execution: dict,
                                                                    expected: list[str] | None) -> None:
    assert started_by(execution) == expected


@pytest.mark.parametrize(("rule", "described"), [
    (ApproverPolicy(anyone=True), "anyone"),
    (ApproverPolicy(users=frozenset({"U2", "bob@example.com"}), groups=frozenset({"S1"})),
     "U2, bob@example.com, group S1"),
    (ApproverPolicy(anyone=True, four_eyes=True), "anyone; not whoever started the run"),
    (ApproverPolicy(), "nobody"),
])
def test_policy_describes_who_may_judge(rule: ApproverPolicy, described: str) -> None:
    policy = Policy({JUDGE: {"pay*": rule}})
    assert policy.describe(JUDGE, "Payments") == described
    assert policy.describe(JUDGE, "checkout") == "nobody from Slack: no rule matches this application"
