"""`/spinnaker cancel|pause|resume`: lookup, confirmation, the Gate call, and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from relay.models import RelayRules
from relay.services import Services
from relay.spinnaker.execution import parse_execution_ref
from tests.chatops import ALICE, BOB, answers, block_texts, click_ephemeral, hand_clock, only, run_jobs, slash
from tests.events import execution
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack

RULES = RelayRules(cancelers={"compute": only(ALICE)}, approvers={"compute": only(BOB)})
RUN_ID = "01D4NH3V9D1RK8GX4036M8BAXV"
DECK_LINK = f"https://spinnaker.example.com/#/applications/compute/executions/details/{RUN_ID}?refId=1"


@pytest.fixture
def rules() -> RelayRules:
    return RULES


@pytest.fixture(autouse=True)
def running(gate: FakeGate) -> None:
    """The run the commands act on."""
    gate.add_execution(execution(id=RUN_ID, name="Deploy", status="RUNNING", startTime=1_700_000_000_000))


def command(client: FlaskClient, slack: FakeSlack, services: Services, text: str, *,
            user: str = ALICE) -> tuple[dict, str]:
    """Type the command and let its job run."""
    answer = slash(client, slack, text, user=user)
    run_jobs(services)
    return answer


def click(client: FlaskClient, slack: FakeSlack, services: Services, button: dict[str, Any], *,
          user: str = ALICE) -> str:
    """Click a button of the ephemeral question and let the job run; returns the click's response_url."""
    response_url = click_ephemeral(client, slack, button, user=user)
    run_jobs(services)
    return response_url


def buttons(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [actions] = [block for block in answer["blocks"] if block["type"] == "actions"]
    return {button["text"]["text"]: button for button in actions["elements"]}


@pytest.mark.parametrize("target", [RUN_ID, DECK_LINK, f"<{DECK_LINK}|Deploy #12>"])
def test_cancel_asks_then_cancels_with_the_reason(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                                  services: Services, target: str) -> None:
    ack, response_url = command(client, slack, services, f"cancel {target} bad  canary <!here>")

    assert ack["text"] == f":mag: Looking up run `{RUN_ID}`…"
    [question] = answers(slack, response_url)
    assert question["response_type"] == "ephemeral"
    assert block_texts(question)[0].startswith(
        f":warning: Cancel *<https://spinnaker.example.com/#/applications/compute/executions/details/{RUN_ID}"
        "|Deploy>* in *compute*")
    assert block_texts(question)[0].endswith("*Reason:* bad  canary &lt;!here&gt;")
    assert gate.calls_to("cancel") == []

    confirmation = click(client, slack, services, buttons(question)["Cancel the run"])

    [call] = gate.calls_to("cancel")
    assert call.query == {"force": "false",
                          "reason": "bad  canary <!here> (from Slack, by alice@example.com)"}
    assert gate.execution(RUN_ID)["status"] == "CANCELED"
    [done] = answers(slack, confirmation)
    assert done["replace_original"] is True
    assert done["text"].startswith(f":white_check_mark: <@{ALICE}> canceled *<https://spinnaker.example.com/")


def test_cancel_clicked_twice_cancels_once(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                           services: Services) -> None:
    _, response_url = command(client, slack, services, f"cancel {RUN_ID}")
    confirm = buttons(answers(slack, response_url)[0])["Cancel the run"]

    click(client, slack, services, confirm)
    second = click(client, slack, services, confirm)

    assert len(gate.calls_to("cancel")) == 1
    assert "is `CANCELED`: there is nothing to cancel." in answers(slack, second)[0]["text"]


def test_never_mind_deletes_the_question(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                         services: Services) -> None:
    _, response_url = command(client, slack, services, f"cancel {RUN_ID}")

    dismissed = click(client, slack, services, buttons(answers(slack, response_url)[0])["Never mind"])

    assert answers(slack, dismissed) == [{"delete_original": True}]
    assert gate.calls_to("cancel") == []


def test_pause_and_resume_follow_the_runs_status(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                                 services: Services) -> None:
    _, asked = command(client, slack, services, f"pause {RUN_ID}")
    click(client, slack, services, buttons(answers(slack, asked)[0])["Pause the run"])
    assert gate.execution(RUN_ID)["status"] == "PAUSED"

    _, asked_again = command(client, slack, services, f"pause {RUN_ID}")
    assert "is `PAUSED`: there is nothing to pause." in answers(slack, asked_again)[0]["text"]

    _, resume = command(client, slack, services, f"resume {RUN_ID}")
    click(client, slack, services, buttons(answers(slack, resume)[0])["Resume the run"])
    assert gate.execution(RUN_ID)["status"] == "RUNNING"
    assert [len(gate.calls_to(route)) for route in ("pause", "resume")] == [1, 1]


def test_cancel_is_refused_to_people_the_policy_does_not_name(client: FlaskClient, slack: FakeSlack,
                                                              gate: FakeGate, services: Services) -> None:
    ack, response_url = command(client, slack, services, f"cancel {RUN_ID}", user=BOB)

    assert ack == {"response_type": "ephemeral",
                   "text": ":no_entry: you are not among the people allowed to cancel runs from Slack."}
    assert answers(slack, response_url) == []
    assert gate.calls == []


def test_a_confirmation_click_is_checked_again(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                               services: Services) -> None:
    _, response_url = command(client, slack, services, f"cancel {RUN_ID}")
    confirm = buttons(answers(slack, response_url)[0])["Cancel the run"]

    refused = click(client, slack, services, confirm, user=BOB)
    forged = click(client, slack, services, {**confirm, "value": json.dumps(
        {**json.loads(confirm["value"]), "application": "billing"})})

    assert answers(slack, refused)[0]["text"] == (
        ":no_entry: you are not among the people allowed to cancel for compute.")
    assert answers(slack, forged)[0]["text"] == f":x: `{RUN_ID}` belongs to compute, not to billing."
    assert gate.calls_to("cancel") == []


def test_cancel_reports_a_run_spinnaker_does_not_know(client: FlaskClient, slack: FakeSlack,
                                                      services: Services) -> None:
    _, response_url = command(client, slack, services, "cancel 01UNKNOWNRUN00000000000000")

    assert answers(slack, response_url)[0]["text"] == (
        ":x: `01UNKNOWNRUN00000000000000`: Spinnaker knows no such run.")


@pytest.mark.parametrize("text, expected", [
    (RUN_ID, (None, RUN_ID)),
    (DECK_LINK, ("compute", RUN_ID)),
    (f"<{DECK_LINK}|Deploy>", ("compute", RUN_ID)),
    ("https://spinnaker.example.com/#/applications/my%20app/tasks/01TASK0000", ("my app", "01TASK0000")),
    ("https://spinnaker.example.com/#/applications/compute/executions/01D4NH3V9D", ("compute", "01D4NH3V9D")),
    ("https://spinnaker.example.com/#/applications/compute/clusters", None),
    ("../../etc/passwd", None),
    ("abc", None),
])
def test_execution_refs_are_ids_or_deck_links(text: str, expected: tuple | None) -> None:
    assert parse_execution_ref(text) == expected


def test_cancel_lookup_tries_a_failing_gate_again(client: FlaskClient, slack: FakeSlack, gate: FakeGate,
                                                  services: Services) -> None:
    clock = hand_clock(services)
    gate.fail_next("get_execution", status=503)

    _, response_url = command(client, slack, services, f"cancel {RUN_ID}")
    assert answers(slack, response_url) == []
    clock.advance(1.0)
    run_jobs(services)

    [question] = answers(slack, response_url)
    assert block_texts(question)[0].startswith(":warning: Cancel")
    assert len(gate.calls_to("get_execution")) == 2


def test_cancel_whose_answer_was_lost_is_reported_done_on_the_next_try(
        client: FlaskClient, slack: FakeSlack, gate: FakeGate, services: Services) -> None:
    clock = hand_clock(services)
    _, response_url = command(client, slack, services, f"cancel {RUN_ID}")
    confirm = buttons(answers(slack, response_url)[0])["Cancel the run"]
    services.gate.timeout = 0.5
    gate.fail_next("cancel", status=None, delay=1.0)  # Gate cancels after the relay stopped waiting

    confirmation = click(client, slack, services, confirm)
    assert answers(slack, confirmation) == []
    gate.wait_for(lambda: gate.execution(RUN_ID)["status"] == "CANCELED")
    clock.advance(1.0)
    run_jobs(services)

    [done] = answers(slack, confirmation)
    assert done["text"].startswith(f":white_check_mark: <@{ALICE}> canceled *<https://spinnaker.example.com/")
    assert done["replace_original"] is True
    assert len(gate.calls_to("cancel")) == 1
