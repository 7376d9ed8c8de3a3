"""`/spinnaker run`: the parameter form, required parameters, the trigger, and the run's thread."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from relay.commands import launch
from relay.models import RelayRules
from relay.services import Services
from tests.chatops import ALICE, BOB, answers, hand_clock, only, run_jobs, slash
from tests.events import payload, pipeline_event, stage_event
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.processes import free_port
from tests.slack_requests import form, signed

RULES = RelayRules(runners={"compute": only(ALICE)})
DEPLOY = {
    "application": "compute", "id": "0d2b6cf1-deploy", "name": "Deploy",
    "parameterConfig": [
        {"name": "version", "label": "Version", "description": "The build to deploy", "required": True,
         "hasOptions": False, "options": [{"value": ""}]},
        {"name": "region", "label": "", "default": "eu-west-1", "required": True, "hasOptions": True,
         "options": [{"value": "us-east-1"}, {"value": "eu-west-1"}]},
        {"name": "dryRun", "default": "false", "required": False},
    ],
    "notifications": [{"type": "slack", "address": "deploys", "level": "pipeline",
                       "when": ["pipeline.starting", "pipeline.complete"]}],
    "stages": [{"name": "Wait", "refId": "1", "type": "wait", "waitTime": 2, "sendNotifications": True,
                "notifications": [{"type": "slack", "address": "deploys", "when": ["stage.complete"]}]}],
}


@pytest.fixture
def rules() -> RelayRules:
    return RULES


@pytest.fixture(autouse=True)
def pipelines(gate: FakeGate) -> None:
    """Deploy, and the pipeline config from Deck's own test fixtures."""
    gate.add_pipeline_config(DEPLOY)
    for config in payload("gate_GET_applications_app_pipelineConfigs.json"):
        gate.add_pipeline_config(config)


def open_form(client: FlaskClient, slack: FakeSlack, services: Services, text: str, *,
              channel: str = "#deploys") -> dict[str, Any]:
    """Type the command, let the job fill the form in; returns the form as Slack shows it."""
    assert slash(client, slack, text, channel=channel)[0] is None
    run_jobs(services)
    [view] = slack.views()
    return view


def submit(client: FlaskClient, view: dict[str, Any], values: dict[str, Any], *, user: str = ALICE):
    state = {f"param:{name}": {"value": value} for name, value in values.items()}
    interaction = {"type": "view_submission", "user": {"id": user},
                   "view": {**view, "state": {"values": state}}}
    raw = form(interaction)
    return client.post("/slack/interactions", data=raw, headers=signed(raw))


def text(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def chosen(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value},
                                                         "value": value}}


def test_run_form_is_built_from_the_parameter_config(client: FlaskClient, slack: FakeSlack,
                                                     services: Services) -> None:
    view = open_form(client, slack, services, "run compute Deploy")

    intro, version, region, dry_run = view["blocks"]
    assert intro["text"]["text"].startswith("Run *Deploy* in *compute*.")
    assert (version["block_id"], version["optional"]) == ("param:version", False)
    assert version["label"]["text"] == "Version"
    assert version["element"] == {"type": "plain_text_input", "action_id": "value"}
    assert version["hint"]["text"] == "The build to deploy"
    assert (region["label"]["text"], region["optional"], region["element"]["type"]) == ("region", False,
                                                                                         "static_select")
    assert [o["value"] for o in region["element"]["options"]] == ["us-east-1", "eu-west-1"]
    assert region["element"]["initial_option"]["value"] == "eu-west-1"
    assert (dry_run["optional"], dry_run["element"]["initial_value"]) == (True, "false")
    assert view["submit"]["text"] == "Run"
    assert json.loads(view["private_metadata"])["address"] == "deploys"


def test_run_form_reads_decks_own_pipeline_config(client: FlaskClient, slack: FakeSlack,
                                                   services: Services) -> None:
    view = open_form(client, slack, services, 'run compute "simple wait pipeline"')

    _, first, second = view["blocks"]
    assert (first["label"]["text"], first["element"]["initial_value"]) == ("labeled param1", "123")
    assert first["optional"] is False
    assert (second["label"]["text"], second["element"]["initial_value"]) == ("param2", "abc")
    assert json.loads(view["private_metadata"])["pipeline"] == "Simple Wait Pipeline"


def test_run_form_explains_a_pipeline_that_does_not_exist(client: FlaskClient, slack: FakeSlack,
                                                          services: Services) -> None:
    view = open_form(client, slack, services, "run compute Nope")

    assert view["blocks"][0]["text"]["text"] == "*compute* has no pipeline named *Nope*."
    assert "submit" not in view


def test_run_requires_the_required_parameters(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                              services: Services) -> None:
    view = open_form(client, slack, services, "run compute Deploy")

    response = submit(client, view, {"version": text("  "), "region": chosen("us-east-1"),
                                     "dryRun": text(None)})

    assert response.get_json() == {"response_action": "errors",
                                   "errors": {"param:version": "Spinnaker needs a value for this parameter."}}
    run_jobs(services)
    assert gate.calls_to("trigger") == []


def test_run_triggers_and_the_runs_notifications_thread_under_its_message(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    view = open_form(client, slack, services, "run compute Deploy")

    response = submit(client, view, {"version": text("1.4.2"), "region": chosen("us-east-1"),
                                     "dryRun": text(None)})
    run_jobs(services)

    assert (response.status_code, response.data) == (200, b"")
    [call] = gate.calls_to("trigger")
    assert call.path == "/pipelines/compute/Deploy"
    assert call.body == {"type": "manual", "user": "alice@example.com",
                         "parameters": {"version": "1.4.2", "region": "us-east-1", "dryRun": ""}}
    execution_id = started_run(services)
    [message] = slack.messages("#deploys")
    assert message.text == "Deploy in compute was started from Slack"
    assert f"<@{ALICE}> started *<https://spinnaker.example.com/#/applications/compute/executions/details/" \
           f"{execution_id}|Deploy>* in *compute* from Slack" in json.dumps(message.blocks)
    assert services.store.message(f"{execution_id}@deploys").ts == message.ts

    run = gate.execution(execution_id)
    run["notifications"] = DEPLOY["notifications"]  # Orca copies them from the config
    echo(client, pipeline_event("starting", run))
    run["stages"][0].update(status="SUCCEEDED", startTime=run["startTime"], endTime=run["startTime"] + 2000)
    echo(client, stage_event("complete", run))
    run_jobs(services)

    [parent] = slack.messages("#deploys")
    assert parent.ts == message.ts and parent.updates == 1
    assert parent.history[0]["text"] == "Deploy in compute was started from Slack"
    assert [reply.text for reply in slack.replies("#deploys", message.ts)] == [
        "Stage Wait for Compute's Deploy pipeline completed"]


def test_run_announces_in_the_thread_when_echo_came_first(slack: FakeSlack, gate: FakeGate,
                                                         services: Services, client: FlaskClient) -> None:
    # started in Deck; Echo's first event arrives before the relay announces the run
    services.gate.trigger("compute", "Deploy", {"type": "manual", "parameters": {"version": "1"}})
    run = {**gate.execution(started_run(services)), "notifications": DEPLOY["notifications"]}
    echo(client, pipeline_event("starting", run))
    run_jobs(services)

    launch.announce(services, {"application": "compute", "pipeline": "Deploy", "address": "deploys",
                               "user_id": ALICE, "parameters": {}}, run["id"])
    run_jobs(services)

    [parent] = slack.messages("#deploys")
    assert parent.text == "Compute's Deploy pipeline is starting"
    assert [reply.text for reply in slack.replies("#deploys", parent.ts)] == [
        "Deploy in compute was started from Slack"]


def test_run_from_a_channel_the_pipeline_does_not_notify_threads_by_channel_id(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    view = open_form(client, slack, services, "run compute Deploy", channel="#random")

    submit(client, view, {"version": text("1"), "region": chosen("us-east-1"), "dryRun": text("true")})
    run_jobs(services)

    assert json.loads(view["private_metadata"])["address"] == slack.channel_id("#random")
    [message] = slack.messages("#random")
    assert services.store.message(f"{started_run(services)}@{slack.channel_id('#random')}").ts == message.ts


@pytest.mark.parametrize("status, said", [
    (400, "Gate answered 400: injected failure"),
    (503, "Gate answered 503: injected failure"),
])
def test_run_reports_a_failed_trigger_and_never_retries_it(client: FlaskClient, slack: FakeSlack,
                                                           gate: FakeGate, services: Services, status: int,
                                                           said: str) -> None:
    _, response_url = slash(client, slack, "run compute Deploy")
    run_jobs(services)
    gate.fail_next("trigger", status=status)

    submit(client, slack.views()[0], {"version": text("1"), "region": chosen("us-east-1"),
                                      "dryRun": text("")})
    run_jobs(services)

    assert len(gate.calls_to("trigger")) == 1
    [answer] = answers(slack, response_url)
    assert answer["text"] == f":x: Spinnaker did not start *Deploy* in *compute*: {said}"
    assert slack.messages("#deploys") == []


def test_run_trigger_that_never_reached_gate_is_sent_once_gate_is_back(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    clock = hand_clock(services)
    view = open_form(client, slack, services, "run compute Deploy")
    response_url = json.loads(view["private_metadata"])["response_url"]
    gate_url = services.gate.base_url
    services.gate.base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: refused

    submit(client, view, {"version": text("1"), "region": chosen("us-east-1"), "dryRun": text("")})
    run_jobs(services)
    assert answers(slack, response_url) == []
    services.gate.base_url = gate_url
    clock.advance(1.0)
    run_jobs(services)

    assert len(gate.calls_to("trigger")) == 1
    assert answers(slack, response_url) == []
    [message] = slack.messages("#deploys")
    assert "started *<" in json.dumps(message.blocks)


def test_run_checks_the_policy_again_on_submit(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                               services: Services) -> None:
    view = open_form(client, slack, services, "run compute Deploy")

    response = submit(client, view, {"version": text("1"), "region": chosen("us-east-1"), "dryRun": text("")},
                      user=BOB)
    run_jobs(services)

    assert (response.status_code, response.data) == (200, b"")
    [refusal] = answers(slack, json.loads(view["private_metadata"])["response_url"])
    assert refusal["text"] == ":no_entry: you are not among the people allowed to run for compute."
    assert gate.calls_to("trigger") == []


def echo(client: FlaskClient, event: dict[str, Any]) -> None:
    response = client.post("/echo/events/", json=event,
                           headers={"Authorization": "Bearer echo-token-of-the-relay"})
    assert response.status_code == 202, response.get_json()


def started_run(services: Services) -> str:
    """The id of the one run the fake Gate holds for compute."""
    [run] = services.gate.executions("compute")
    return run["id"]
