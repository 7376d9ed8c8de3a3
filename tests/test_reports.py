"""`/spinnaker status` and `/spinnaker pending`, answered through response_url from the fake Gate's runs."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient

from relay.commands.retries import GIVE_UP_SECONDS, SLOW
from relay.judgments.updates import judgment_message_key
from relay.models import RelayRules
from relay.services import Services
from relay.store import MessageRef
from tests.chatops import ALICE, BOB, answers, block_texts, click_ephemeral, hand_clock, only, run_jobs, slash
from tests.events import JUDGMENT_STAGE_ID, execution, judgment_stage
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack

RULES = RelayRules(approvers={"compute": only(ALICE)}, runners={"billing": only(ALICE)})
UI = "https://spinnaker.example.com/#/applications"


@pytest.fixture
def rules() -> RelayRules:
    return RULES


def run(gate: FakeGate, run_id: str, *, name: str = "Deploy", status: str = "SUCCEEDED", start: int,
        end: int | None = None, application: str = "compute", judgment: bool = False) -> None:
    stages = [{**judgment_stage(), "startTime": 1551205790000}] if judgment else []  # a fixed start
    gate.add_execution(execution(id=run_id, name=name, status=status, startTime=start, endTime=end,
                                 application=application, pipelineConfigId=f"{application}-{name}",
                                 stages=stages))


def test_status_lists_recent_runs_newest_first(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                              services: Services) -> None:
    run(gate, "01RUNOLD", status="SUCCEEDED", start=1_700_000_000_000, end=1_700_000_185_000)
    run(gate, "01RUNFAILED", status="TERMINAL", start=1_700_000_500_000, end=1_700_000_530_000)
    run(gate, "01RUNNOW", name="Bake", status="RUNNING", start=int(time.time() * 1000) - 65_000)

    ack, response_url = slash(client, slack, "status compute")
    run_jobs(services)

    assert ack == {"response_type": "ephemeral", "text": ":mag: Looking up the latest runs of *compute*…"}
    [answer] = answers(slack, response_url)
    header, *lines = block_texts(answer)
    assert header == "Latest runs of *compute*"
    assert [line.split("|")[0] for line in lines] == [
        f":arrows_counterclockwise: *<{UI}/compute/executions/details/01RUNNOW",
        f":x: *<{UI}/compute/executions/details/01RUNFAILED",
        f":white_check_mark: *<{UI}/compute/executions/details/01RUNOLD"]
    assert "`RUNNING`" in lines[0] and "running for 1m" in lines[0]
    assert "`TERMINAL`" in lines[1] and "took 30s" in lines[1]
    assert "took 3m 5s" in lines[2] and "alice@example.com (manual)" in lines[2]
    assert gate.calls_to("list_executions")[0].query["expand"] == "true"


def test_status_narrows_to_one_pipeline(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                        services: Services) -> None:
    run(gate, "01DEPLOY", name="Deploy", start=1_700_000_000_000, end=1_700_000_001_000)
    run(gate, "01BAKE", name="Bake", start=1_700_000_100_000, end=1_700_000_101_000)

    _, response_url = slash(client, slack, "status compute deploy")
    run_jobs(services)

    lines = block_texts(answers(slack, response_url)[0])
    assert lines[0] == "Latest runs of *deploy* in *compute*"
    assert len(lines) == 2 and "01DEPLOY" in lines[1]


def test_status_reports_gates_refusal(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                      services: Services) -> None:
    gate.fail_next("list_executions", status=403)

    _, response_url = slash(client, slack, "status compute")
    run_jobs(services)

    [answer] = answers(slack, response_url)
    assert answer["text"] == (":x: Spinnaker did not list the runs of *compute*: "
                              "Gate answered 403: injected failure")


def test_pending_lists_judgments_waiting_now(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                             services: Services) -> None:
    run(gate, "01WAITING", status="RUNNING", start=1_700_000_000_000, judgment=True)
    run(gate, "01DONE", status="SUCCEEDED", start=1_700_000_100_000, end=1_700_000_200_000, judgment=True)
    judged = execution(id="01JUDGED", status="RUNNING", startTime=1_700_000_300_000, pipelineConfigId="other",
                       stages=[judgment_stage(judgmentStatus="continue")])
    gate.add_execution(judged)

    ack, response_url = slash(client, slack, "pending compute")
    run_jobs(services)

    assert ack["text"] == ":mag: Looking for Manual Judgments waiting in *compute*…"
    [answer] = answers(slack, response_url)
    assert answer["text"] == "1 Manual Judgment(s) waiting"
    [line] = [text for text in block_texts(answer) if "waiting" in text]
    assert f"<{UI}/compute/executions/details/01WAITING?refId=" in line
    assert "(compute) is waiting since <!date^1551205790^" in line
    assert gate.calls_to("list_executions")[0].query["statuses"] == "RUNNING"
    [actions] = [block for block in answer["blocks"] if block["type"] == "actions"]
    assert [(e["action_id"], e["text"]["text"]) for e in actions["elements"]] == [
        ("judgment.choose.0", "Approve: Deploy anyway"), ("judgment.choose.1", "Approve: Roll back"),
        ("judgment.reject", "Reject")]
    assert json.loads(actions["elements"][0]["value"])["channel"] == slack.channel_id("#deploys")


def test_pending_buttons_decide_the_judgment(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                             services: Services) -> None:
    run(gate, "01WAITING", status="RUNNING", start=1_700_000_000_000, judgment=True)
    _, response_url = slash(client, slack, "pending compute")
    run_jobs(services)
    [actions] = [block for block in answers(slack, response_url)[0]["blocks"] if block["type"] == "actions"]

    click_ephemeral(client, slack, actions["elements"][1])
    run_jobs(services)

    [call] = gate.calls_to("judge")
    assert call.path == f"/pipelines/01WAITING/stages/{JUDGMENT_STAGE_ID}"
    assert (call.body["judgmentStatus"], call.body["judgmentInput"]) == ("continue", "Roll back")
    assert call.body["judgedViaSlackBy"] == "alice@example.com"


def test_pending_buttons_point_where_the_stage_was_notified(client: FlaskClient, slack: FakeSlack,
                                                            gate: FakeGate, services: Services) -> None:
    run(gate, "01WAITING", status="RUNNING", start=1_700_000_000_000, judgment=True)
    key = judgment_message_key("01WAITING", JUDGMENT_STAGE_ID, "playback-features")
    services.store.remember_message(key, MessageRef(slack.channel_id("#playback-features"), "1.000001"),
                                    now=services.clock())

    _, response_url = slash(client, slack, "pending compute")
    run_jobs(services)

    [actions] = [block for block in answers(slack, response_url)[0]["blocks"] if block["type"] == "actions"]
    assert {json.loads(e["value"])["channel"] for e in actions["elements"]} == {"playback-features"}


def test_pending_approve_takes_the_option_picked_beside_it(client: FlaskClient, slack: FakeSlack,
                                                           gate: FakeGate, services: Services) -> None:
    options = [{"value": f"option {n}"} for n in range(5)]  # more than three: a select menu, not buttons
    for run_id, start in (("01FIRST", 1_700_000_000_000), ("01SECOND", 1_700_000_100_000)):
        gate.add_execution(execution(id=run_id, status="RUNNING", startTime=start, pipelineConfigId=run_id,
                                     stages=[judgment_stage(judgmentInputs=options)]))
    _, response_url = slash(client, slack, "pending compute")
    run_jobs(services)
    blocks = answers(slack, response_url)[0]["blocks"]
    first, second = [index for index, block in enumerate(blocks) if block["type"] == "actions"]
    select, approve, _ = blocks[first]["elements"]
    picked = {f"b{index}": {"judgment.option": {"type": "static_select", "selected_option": option}}
              for index, option in ((first, select["options"][1]), (second, select["options"][3]))}

    click_ephemeral(client, slack, approve, block_id=f"b{first}", state=picked)
    run_jobs(services)

    [call] = gate.calls_to("judge")
    assert (call.path.split("/")[2], call.body["judgmentInput"]) == ("01FIRST", "option 1")


def test_pending_without_an_application_looks_where_the_relay_has_been(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    for application in ("compute", "billing", "secret"):
        services.store.accept_event(event_id=f"event-{application}", type="orca:pipeline:starting",
                                    application=application, execution_id=None, drafts=[], now=time.time())
    run(gate, "01WAITING", status="RUNNING", start=1_700_000_000_000, judgment=True)

    ack, response_url = slash(client, slack, "pending")
    run_jobs(services)

    assert ack["text"] == ":mag: Looking for Manual Judgments waiting in the applications you may act on…"
    assert sorted(call.path for call in gate.calls_to("list_executions")) == [
        "/applications/billing/pipelines", "/applications/compute/pipelines"]
    assert answers(slack, response_url)[0]["text"] == "1 Manual Judgment(s) waiting"


def test_pending_says_when_nothing_waits(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                         services: Services) -> None:
    _, response_url = slash(client, slack, "pending compute", user=ALICE)
    run_jobs(services)

    assert block_texts(answers(slack, response_url)[0]) == ["No Manual Judgment is waiting."]


def test_pending_is_refused_to_people_without_a_rule(client: FlaskClient, slack: FakeSlack,
                                                     gate: FakeGate) -> None:
    ack, _ = slash(client, slack, "pending compute", user=BOB)

    assert ack["text"] == (":no_entry: you are not among the people allowed to act on any application from "
                           "Slack.")
    assert gate.calls == []


def test_status_tries_a_failing_gate_again_and_says_once_that_it_is_slow(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    run(gate, "01RUNOLD", start=1_700_000_000_000, end=1_700_000_185_000)
    clock = hand_clock(services)
    gate.fail_next("list_executions", status=503, count=2)

    _, response_url = slash(client, slack, "status compute")
    run_jobs(services)
    assert answers(slack, response_url) == []  # the first failure is tried again, unannounced
    clock.advance(1.0)
    run_jobs(services)
    assert [answer["text"] for answer in answers(slack, response_url)] == [SLOW]
    clock.advance(2.0)
    run_jobs(services)

    [_, answer] = answers(slack, response_url)
    assert block_texts(answer)[0] == "Latest runs of *compute*" and "01RUNOLD" in block_texts(answer)[1]
    assert len(gate.calls_to("list_executions")) == 3


def test_pending_gives_up_on_an_unreachable_gate_after_the_deadline(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    clock = hand_clock(services)
    asked_at = clock()
    gate.fail_next("list_executions", status=502, count=1_000)

    _, response_url = slash(client, slack, "pending compute")
    while len(answers(slack, response_url)) < 2 and clock() - asked_at < 2 * GIVE_UP_SECONDS:
        run_jobs(services)
        clock.advance(10.0)

    texts = [answer["text"] for answer in answers(slack, response_url)]
    assert texts[0] == SLOW and len(texts) == 2
    assert block_texts(answers(slack, response_url)[1])[0] == (
        ":x: Spinnaker did not list the runs of *compute*: Gate answered 502: injected failure")
    assert clock() - asked_at >= GIVE_UP_SECONDS
    assert 4 <= len(gate.calls_to("list_executions")) <= 8
