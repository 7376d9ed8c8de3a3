"""`/spinnaker` under attack, over real HTTP: names typed in another case or as `..`, people no rule names,
floods of commands, and a Slack too slow to wait for before the ack."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from relay.app import create_app
from relay.models import RelayRules
from relay.services import Services
from tests.chatops import (
    ALICE,
    answers,
    command_fields,
    form_body,
    only,
    post_signed,
    relay_services,
    run_jobs,
)
from tests.events import execution
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.live import serving
from tests.processes import wait_until
from tests.slack_requests import form

MALLORY, CAROL = "U0MALLORY", "U0CAROL00"
# Mallory may act on every application but the payments ones; Carol is in no rule at all.
RULES = RelayRules(**{kind: {"payments*": only(ALICE), "*": only(ALICE, MALLORY)}
                      for kind in ("runners", "cancelers", "approvers")})
PAYMENTS_RUN, COMPUTE_RUN = "01PAYMENTSRUN0000000000000", "01COMPUTERUN00000000000000"
DEPLOY_PROD = {"application": "payments", "id": "payments-deploy-prod", "name": "deploy-prod",
               "parameterConfig": [], "stages": []}
DEPLOY = {"application": "compute", "id": "compute-deploy", "name": "Deploy", "parameterConfig": [],
          "stages": []}


@pytest.fixture
def rules() -> RelayRules:
    return RULES


@pytest.fixture
def relay(services: Services, slack: FakeSlack, gate: FakeGate) -> Iterator[str]:
    """A running relay; Gate holds a payments pipeline, a compute pipeline and a run of each."""
    for user in (MALLORY, CAROL):
        slack.add_user(user, email=f"{user.lower()}@example.com")
    gate.add_pipeline_config(DEPLOY_PROD)
    gate.add_pipeline_config(DEPLOY)
    # Orca keeps the application as it was written when the run started, in whatever case.
    gate.add_execution(execution(id=PAYMENTS_RUN, application="Payments", status="RUNNING"))
    gate.add_execution(execution(id=COMPUTE_RUN, application="compute", status="RUNNING"))
    with serving(create_app(services=services)) as url:
        yield url


def command(url: str, slack: FakeSlack, text: str, *, user: str = ALICE) -> tuple[dict[str, Any] | None, str]:
    """Type `/spinnaker <text>` over HTTP: the ack's body (None when empty) and the command's response_url."""
    fields = command_fields(slack, text, user=user)
    response = post_signed(url + "/slack/commands", form_body(fields))
    assert response.status_code == 200, response.text
    return (response.json() if response.content else None), fields["response_url"]


def interact(url: str, interaction: dict[str, Any]) -> Any:
    response = post_signed(url + "/slack/interactions", form(interaction))
    assert response.status_code == 200, response.text
    return response.json() if response.content else None


def submission(view: dict[str, Any], *, user: str) -> dict[str, Any]:
    return {"type": "view_submission", "user": {"id": user}, "view": {**view, "state": {"values": {}}}}


def queued_jobs(services: Services) -> list[str]:
    return [job.kind for job in services.store.lease_jobs(worker="test", now=time.time() + 3600, lease=1)]


# --- finding 3: the policy is checked against the application Gate names, ignoring case ----------------

@pytest.mark.parametrize("typed", ["PAYMENTS", "Payments", "payments"])
def test_run_refuses_a_pipeline_of_an_application_named_in_another_case(
        relay: str, slack: FakeSlack, gate: FakeGate, services: Services, typed: str) -> None:
    ack, _ = command(relay, slack, f"run {typed} deploy-prod", user=MALLORY)
    run_jobs(services)

    assert ack is None
    [view] = slack.views()
    assert view["blocks"][0]["text"]["text"] == (
        ":no_entry: you are not among the people allowed to run for payments.")
    assert view.get("submit") is None
    assert interact(relay, submission(view, user=MALLORY)) is not None  # an out-of-date form: nothing runs
    run_jobs(services)
    assert gate.calls_to("trigger") == []


def test_run_checks_the_application_again_at_submit(relay: str, slack: FakeSlack, gate: FakeGate,
                                                    services: Services) -> None:
    command(relay, slack, "run PAYMENTS deploy-prod", user=ALICE)
    run_jobs(services)
    [view] = slack.views()
    assert json.loads(view["private_metadata"])["application"] == "payments"  # as Gate names it

    assert interact(relay, submission(view, user=MALLORY)) is None
    run_jobs(services)

    [refusal] = answers(slack, json.loads(view["private_metadata"])["response_url"])
    assert refusal["text"] == ":no_entry: you are not among the people allowed to run for payments."
    assert gate.calls_to("trigger") == []


def test_run_starts_the_pipeline_under_the_application_gate_names(relay: str, slack: FakeSlack,
                                                                  gate: FakeGate, services: Services) -> None:
    command(relay, slack, "run COMPUTE Deploy", user=MALLORY)
    run_jobs(services)
    [view] = slack.views()

    interact(relay, submission(view, user=MALLORY))
    run_jobs(services)

    [trigger] = gate.calls_to("trigger")
    assert trigger.path == "/pipelines/compute/Deploy"


@pytest.mark.parametrize("text", ["status PAYMENTS", "pending PAYMENTS"])
def test_reports_refuse_an_application_named_in_another_case(relay: str, slack: FakeSlack, gate: FakeGate,
                                                             services: Services, text: str) -> None:
    ack, response_url = command(relay, slack, text, user=MALLORY)
    run_jobs(services)

    assert ack["text"].startswith(":mag: ")
    [refusal] = answers(slack, response_url)
    assert refusal["text"] == (":no_entry: you are not among the people allowed to act on PAYMENTS from "
                               "Slack.")
    assert gate.calls == []


def test_pending_shows_only_runs_of_applications_the_person_may_see(
        relay: str, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    for application in ("compute", "Payments"):
        services.store.accept_event(event_id=f"event-{application}", type="orca:pipeline:starting",
                                    application=application, execution_id=None, drafts=[], now=time.time())

    _, response_url = command(relay, slack, "pending", user=MALLORY)
    run_jobs(services)

    assert [call.path for call in gate.calls_to("list_executions")] == ["/applications/compute/pipelines"]
    assert answers(slack, response_url)[0]["text"] == "1 Manual Judgment(s) waiting"


@pytest.mark.parametrize("verb", ["cancel", "pause", "resume"])
def test_controls_refuse_a_run_whose_application_differs_only_in_case(relay: str, slack: FakeSlack,
                                                                      gate: FakeGate, services: Services,
                                                                      verb: str) -> None:
    _, response_url = command(relay, slack, f"{verb} {PAYMENTS_RUN}", user=MALLORY)
    run_jobs(services)

    [refusal] = answers(slack, response_url)
    assert refusal["text"] == ":no_entry: you are not among the people allowed to cancel for Payments."
    assert [call.route for call in gate.calls] == ["get_execution"]


@pytest.mark.parametrize("text", ["status ..", "status .", "pending ..", "run .. Deploy", "status ...",
                                  "status compute/../..", "status %2e%2e", "status a?b", "status a#b"])
def test_commands_refuse_names_no_application_has(relay: str, slack: FakeSlack, gate: FakeGate,
                                                  services: Services, text: str) -> None:
    ack, _ = command(relay, slack, text, user=MALLORY)

    assert "is not an application name" in ack["text"]
    assert queued_jobs(services) == []
    assert gate.calls == []


def test_run_never_sends_a_pipeline_named_dot_dot_into_a_url(relay: str, slack: FakeSlack, gate: FakeGate,
                                                             services: Services) -> None:
    gate.add_pipeline_config({"application": "compute", "id": "dots", "name": "..", "parameterConfig": []})
    command(relay, slack, "run compute ..", user=MALLORY)
    run_jobs(services)
    [view] = slack.views()

    interact(relay, submission(view, user=MALLORY))
    run_jobs(services)

    assert [call.path for call in gate.calls if call.method == "POST"] == []
    [answer] = answers(slack, json.loads(view["private_metadata"])["response_url"])
    assert answer["text"].startswith(":x: Spinnaker did not start *..* in *compute*")


# --- finding 6: what needs no lookup is refused in the ack; commands are rate-limited per person ---------

@pytest.mark.parametrize("verb", ["cancel", "pause", "resume"])
def test_controls_refuse_people_in_no_rule_without_queueing_anything(relay: str, slack: FakeSlack,
                                                                     gate: FakeGate, services: Services,
                                                                     verb: str) -> None:
    acks = [command(relay, slack, f"{verb} 01BOGUS{n}0000000000000000", user=CAROL)[0] for n in range(4)]

    assert {ack["text"] for ack in acks} == {
        f":no_entry: you are not among the people allowed to {verb} runs from Slack."}
    assert queued_jobs(services) == []
    assert gate.calls == [] and slack.calls_to("users.info") == []


@pytest.mark.parametrize("target", ["../../pipelines", "01-", "x" * 80, "<https://evil.example.com/|run>"])
def test_controls_refuse_a_malformed_execution_id_in_the_ack(relay: str, slack: FakeSlack, gate: FakeGate,
                                                             services: Services, target: str) -> None:
    ack, _ = command(relay, slack, f"cancel {target}", user=MALLORY)

    assert "is neither an execution id nor a link to a run" in ack["text"]
    assert queued_jobs(services) == [] and gate.calls == []


def test_commands_are_rate_limited_per_person_across_replicas(slack: FakeSlack, gate: FakeGate,
                                                              tmp_path: Path, db_url: str) -> None:
    replicas = [relay_services(slack, tmp_path, gate_url=gate.url, rules=RULES, database_url=db_url,
                               command_rate=3) for _ in range(2)]
    try:
        with (serving(create_app(services=replicas[0])) as first,
              serving(create_app(services=replicas[1])) as second):
            acks = [command(url, slack, "status compute")[0]["text"]
                    for url in (first, second, first, second)]
            other = command(second, slack, "status compute", user=MALLORY)[0]["text"]
            helped = command(first, slack, "help")[0]["text"]
    finally:
        for replica in replicas:
            replica.store.engine.dispose()

    assert acks[:3] == [":mag: Looking up the latest runs of *compute*…"] * 3
    assert acks[3] == (":hourglass: You sent more than 3 commands this minute, so the relay did not act on "
                       "this one. Try again in a minute.")
    assert other.startswith(":mag: ")
    assert "acts on Spinnaker from Slack" in helped


# --- finding 7: nothing slower than a database write before the ack ----------------------------------------

def acked_while_slack_holds(slack: FakeSlack, send: Any) -> Any:
    """Hold Slack's directory lookups, send the request, and return its answer once it comes back; fail if
    the relay is waiting on a held lookup instead."""
    held = ("users.info", "usergroups.users.list")
    before = sum(len(slack.calls_to(method)) for method in held)
    slack.hold(*held)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future = pool.submit(send)
        try:
            wait_until(lambda: pending.done() or sum(len(slack.calls_to(method)) for method in held) > before,
                       10, "the ack or a lookup")
            assert pending.done(), "the relay waited on a Slack lookup before answering Slack"
            return pending.result()
        finally:
            slack.release()


@pytest.mark.parametrize("text", ["status compute", "pending", "pending compute", "run compute Deploy",
                                  f"cancel {COMPUTE_RUN}", f"pause {COMPUTE_RUN}", f"resume {COMPUTE_RUN}"])
def test_commands_ack_before_any_slow_lookup(relay: str, slack: FakeSlack, gate: FakeGate,
                                             services: Services, text: str) -> None:
    services.store.accept_event(event_id="event-compute", type="orca:pipeline:starting",
                                application="compute", execution_id=None, drafts=[], now=time.time())

    acked = acked_while_slack_holds(slack, lambda: command(relay, slack, text, user=MALLORY))
    run_jobs(services)

    ack, response_url = acked
    assert ack is None or not ack["text"].startswith(":no_entry:")
    assert answers(slack, response_url) or slack.views()  # the work was done later, in a job
    assert slack.calls_to("users.info")


def test_run_form_submission_acks_before_any_slow_lookup(relay: str, slack: FakeSlack, gate: FakeGate,
                                                         services: Services, tmp_path: Path) -> None:
    command(relay, slack, "run compute Deploy", user=MALLORY)
    run_jobs(services)
    [view] = slack.views()
    # Another replica, whose directory has looked no one up yet, takes the submission.
    replica = relay_services(slack, tmp_path, gate_url=gate.url, rules=RULES,
                             database_url=services.settings.database_url)
    try:
        with serving(create_app(services=replica)) as other:
            acked = acked_while_slack_holds(slack, lambda: interact(other, submission(view, user=MALLORY)))
    finally:
        replica.store.engine.dispose()
    run_jobs(services)

    assert acked is None
    assert [call.path for call in gate.calls_to("trigger")] == ["/pipelines/compute/Deploy"]


def test_run_says_when_slack_does_not_open_the_form_in_time(relay: str, slack: FakeSlack, gate: FakeGate,
                                                            services: Services) -> None:
    slack.hold("views.open")
    try:
        ack, _ = command(relay, slack, "run compute Deploy", user=MALLORY)
    finally:
        slack.release()

    assert ack["text"] == ":x: Slack did not open the form in time; run the command again."
    assert queued_jobs(services) == []
