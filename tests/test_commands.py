"""POST /slack/commands: signatures, the command grammar, refusals, and the run form's first 3 seconds."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient

from relay.models import RelayRules
from relay.services import Services
from tests.chatops import ALICE, BOB, command_fields, form_body, only, run_jobs
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.slack_requests import SIGNING_SECRET, signed

RULES = RelayRules(runners={"compute": only(ALICE)}, cancelers={"compute": only(ALICE)},
                   approvers={"compute": only(ALICE, BOB)})


@pytest.fixture
def rules() -> RelayRules:
    return RULES


def send(client: FlaskClient, fields: dict[str, str], *, secret: str = SIGNING_SECRET):
    body = form_body(fields)
    return client.post("/slack/commands", data=body, headers=signed(body, secret=secret))


def test_commands_refuse_unsigned_and_wrongly_signed_requests(client: FlaskClient, slack: FakeSlack) -> None:
    fields = command_fields(slack, "help")

    unsigned = client.post("/slack/commands", data=form_body(fields),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    wrong = send(client, fields, secret="another-secret")
    stale_body = form_body(fields)
    stale = client.post("/slack/commands", data=stale_body,
                        headers=signed(stale_body, timestamp=int(time.time()) - 301))

    assert [r.status_code for r in (unsigned, wrong, stale)] == [401, 401, 401]
    assert unsigned.get_json()["error"]["code"] == "unauthorized"


def test_commands_answer_slacks_ssl_check(client: FlaskClient) -> None:
    response = client.post("/slack/commands", data="ssl_check=1&token=deprecated",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert (response.status_code, response.data) == (200, b"")


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_commands_help_lists_every_command(client: FlaskClient, slack: FakeSlack, text: str) -> None:
    response = send(client, command_fields(slack, text))

    body = response.get_json()
    assert response.status_code == 200
    assert body["response_type"] == "ephemeral"
    # Slack shows &lt; and &gt; as < and >; bare ones would start a link.
    for usage in ("status &lt;application&gt; [pipeline]", "pending [application]",
                  "run &lt;application&gt; &lt;pipeline&gt;", "cancel &lt;execution id or link&gt; [reason]",
                  "pause &lt;execution id or link&gt;", "resume …"):
        assert f"/spinnaker {usage}" in body["text"]


def test_commands_name_an_unknown_command_escaped(client: FlaskClient, slack: FakeSlack) -> None:
    body = send(client, command_fields(slack, "deploy<!channel> now")).get_json()

    assert body["text"].startswith("There is no `deploy&lt;!channel&gt;` command.")
    assert "<!channel>" not in body["text"]


def test_commands_reject_a_payload_without_a_user(client: FlaskClient, slack: FakeSlack) -> None:
    fields = command_fields(slack, "help")
    del fields["user_id"]

    response = send(client, fields)

    assert response.status_code == 422
    assert "user_id" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("text, reason", [
    ("run compute Deploy", "you are not among the people allowed to run pipelines from Slack"),
    ("run payments Deploy", "you are not among the people allowed to run pipelines from Slack"),
    ("status compute", "you are not among the people allowed to act on any application from Slack"),
    ("pending payments", "you are not among the people allowed to act on any application from Slack"),
    ("pending", "you are not among the people allowed to act on any application from Slack"),
    ("cancel 01D4NH3V9D1RK8GX4036M8BAXV", "you are not among the people allowed to cancel runs from Slack"),
    ("pause 01D4NH3V9D1RK8GX4036M8BAXV", "you are not among the people allowed to pause runs from Slack"),
    ("resume 01D4NH3V9D1RK8GX4036M8BAXV", "you are not among the people allowed to resume runs from Slack"),
])
def test_commands_refuse_people_no_rule_names_in_the_ack(client: FlaskClient, slack: FakeSlack,
                                                         gate: FakeGate, services: Services, text: str,
                                                         reason: str) -> None:
    slack.add_user("U0CAROL00", email="carol@example.com")

    body = send(client, command_fields(slack, text, user="U0CAROL00")).get_json()

    assert body == {"response_type": "ephemeral", "text": f":no_entry: {reason}."}
    assert slack.calls_to("views.open") == slack.calls_to("users.info") == []
    assert services.store.lease_jobs(worker="test", now=time.time(), lease=60) == []
    assert gate.calls == []


@pytest.mark.parametrize("text, usage", [
    ("run compute", "Usage: `/spinnaker run &lt;application&gt; &lt;pipeline name&gt;`"),
    ("status", "Usage: `/spinnaker status &lt;application&gt; [pipeline]`"),
    ("cancel", "Usage: `/spinnaker cancel &lt;execution id or Spinnaker link&gt; [reason]`"),
    ("pause ../../etc", "`../../etc` is neither an execution id nor a link to a run."),
])
def test_commands_explain_their_usage(client: FlaskClient, slack: FakeSlack, text: str, usage: str) -> None:
    assert usage in send(client, command_fields(slack, text)).get_json()["text"]


def test_run_opens_the_form_within_the_request(client: FlaskClient, slack: FakeSlack,
                                               services: Services) -> None:
    fields = command_fields(slack, "run compute Simple Wait Pipeline")

    response = send(client, fields)

    assert (response.status_code, response.data) == (200, b"")
    [opened] = slack.calls_to("views.open")
    assert opened.params["trigger_id"] == fields["trigger_id"]
    [view] = slack.views()
    assert view["callback_id"] == "spinnaker_run"
    assert "Fetching the parameters of *Simple Wait Pipeline*" in view["blocks"][0]["text"]["text"]
    assert json.loads(view["private_metadata"]) == {
        "application": "compute", "pipeline": "Simple Wait Pipeline", "channel_id": fields["channel_id"],
        "channel_name": "deploys", "response_url": fields["response_url"]}
    [job] = services.store.lease_jobs(worker="test", now=time.time(), lease=60)
    assert (job.kind, job.payload["view_id"]) == ("commands.run_form", view["id"])


def test_run_reports_a_trigger_id_slack_no_longer_takes(client: FlaskClient, slack: FakeSlack) -> None:
    fields = command_fields(slack, "run compute Deploy")
    slack.fail_next("views.open", error="expired_trigger_id")

    body = send(client, fields).get_json()

    assert body["text"] == ":x: Slack did not open the form (expired_trigger_id)."


def test_run_needs_the_users_email(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                   services: Services) -> None:
    slack.add_user(ALICE, email=None)
    gate.add_pipeline_config({"application": "compute", "id": "deploy-id", "name": "Deploy"})

    assert send(client, command_fields(slack, "run compute Deploy")).data == b""
    run_jobs(services)

    [view] = slack.views()
    assert "cannot see your email address" in view["blocks"][0]["text"]["text"]
    assert view.get("submit") is None
