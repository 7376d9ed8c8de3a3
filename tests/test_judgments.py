"""End-to-end tests of Manual Judgments from Slack: click, ack, authorize, claim, PATCH, watch, report.

Each test runs the relay against a fake Slack and a fake Gate (real HTTP servers) and drives the
dispatcher by hand with a shared clock, so waiting for Spinnaker is a clock advance, not a sleep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.app import create_app
from relay.cli import cli
from relay.config import Settings
from relay.judgments.clicks import JOB_KIND
from relay.judgments.decide import POLL_SECONDS
from relay.judgments.resolve import resolve
from relay.models import ApproverPolicy, RelayRules
from relay.store import Job, Store
from relay.wiring import build_services
from tests import events
from tests.fake_gate import FakeFiat
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    JUDGMENT_CHANNEL,
    OTHER,
    RELAY_IDENTITY,
    STAGE_ID,
    STARTER,
    STRANGER,
    World,
    buttons,
    judgment_world,
    text_of,
)

RUN_ID = events.execution()["id"]
ALL_BUTTONS = ["judgment.choose.0", "judgment.choose.1", "judgment.reject"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with judgment_world(tmp_path) as built:
        yield built


def stage(world: World) -> dict:
    return world.gate.stage(RUN_ID, STAGE_ID)


def run_with_roles(*roles: str) -> dict:
    run = events.execution()
    next(s for s in run["stages"] if s["id"] == STAGE_ID)["context"]["selectedStageRoles"] = list(roles)
    return run


# --- the happy path --------------------------------------------------------------------------------------


def test_judgment_approved_in_slack_patches_once_and_reports_everywhere(world: World) -> None:
    message = world.start_judgment()
    assert buttons(message) == ALL_BUTTONS

    response = world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()

    assert (response.status_code, response.data) == (200, b"")
    [patch] = world.gate.calls_to("judge")
    assert patch.path == f"/pipelines/{RUN_ID}/stages/{STAGE_ID}"
    assert patch.body == {"judgmentStatus": "continue", "judgmentInput": "Deploy anyway",
                          "judgmentReason": None, "judgedViaSlackBy": APPROVER_EMAIL,
                          "judgedViaSlackUserId": APPROVER}
    assert stage(world)["status"] == "SUCCEEDED"
    shown = world.judgment_message()
    assert buttons(shown) == []
    assert "<@U0APPROVER> approved stage" in text_of(shown) and "Deploy anyway" in text_of(shown)
    assert RELAY_IDENTITY in text_of(shown)  # Gate records the relay's identity as the judge
    replies = [m.text for m in world.slack.replies(JUDGMENT_CHANNEL, message.thread_ts)]
    assert replies[-1] == "Proceed Anyway? was approved from Slack"
    [direct] = world.slack.messages(STARTER)
    assert "your run of Simple Wait Pipeline" in direct.text
    [judgment] = world.judgments()
    assert (judgment.status, judgment.user_email, judgment.judgment_input, judgment.gate_status,
            judgment.gate_user, judgment.stage_status) == (
        "decided", APPROVER_EMAIL, "Deploy anyway", 200, RELAY_IDENTITY, "SUCCEEDED")
    assert world.told(APPROVER) == []


def test_judgment_is_decided_and_announced_when_the_starters_lookup_answers_strangely(world: World) -> None:
    """The direct message to the run's starter is a courtesy: an answer of an unexpected shape from
    users.lookupByEmail skips it, and the judgment still reaches decided, announced in the channel."""
    message = world.start_judgment()
    world.slack.fail_next("users.lookupByEmail", body={"ok": True, "warning": "no user in this answer"})

    world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()

    [judgment] = world.judgments()
    assert judgment.status == "decided"
    assert world.slack.messages(STARTER) == []
    replies = [m.text for m in world.slack.replies(JUDGMENT_CHANNEL, message.thread_ts)]
    assert replies[-1] == "Proceed Anyway? was approved from Slack"


def test_judgment_notes_to_the_clicker_go_through_the_outbox(world: World) -> None:
    message = world.start_judgment()
    world.click(message, "judgment.choose.0", user=STRANGER)
    world.drain()

    [note] = [d for d in world.store.list_deliveries() if d["template"] == "judgment.note"]
    assert (note["action"], note["status"]) == ("ephemeral", "sent")
    [told] = world.told(STRANGER)
    assert told.startswith(":no_entry: You cannot judge this from Slack")


@pytest.mark.slow
def test_judgment_ack_returns_before_gate_is_called_even_when_gate_takes_5_seconds(world: World) -> None:
    message = world.start_judgment()
    world.gate.fail_next("get_execution", status=None, delay=5.0)
    calls_before = len(world.gate.calls)

    response = world.click(message, "judgment.choose.0", user=APPROVER)

    assert response.status_code == 200
    assert len(world.gate.calls) == calls_before  # the ack never waits for Gate: the job runs later
    assert [j.status for j in world.judgments()] == ["received"]
    worker = threading.Thread(target=world.drain)
    worker.start()
    world.gate.wait_for(lambda: len(world.gate.calls) > calls_before)
    assert [j.status for j in world.judgments()] == ["received"]  # Gate is still thinking
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [j.status for j in world.judgments()] == ["decided"]


# --- first click wins ------------------------------------------------------------------------------------


@pytest.fixture
def backend_world(tmp_path: Path, db_url: str) -> Iterator[World]:
    """A world on SQLite, and one on PostgreSQL."""
    with judgment_world(tmp_path, database_url=db_url) as built:
        yield built


def test_judgment_concurrent_clicks_from_threads_send_exactly_one_patch(backend_world: World) -> None:
    world = backend_world
    message = world.start_judgment()
    clickers = [APPROVER, OTHER, APPROVER, OTHER, APPROVER, OTHER]  # two people, each clicking three times
    start = threading.Barrier(len(clickers))
    statuses: list[int] = []

    def click(user: str) -> None:
        start.wait()
        statuses.append(world.click(message, "judgment.choose.0", user=user).status_code)

    threads = [threading.Thread(target=click, args=(user,)) for user in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * len(clickers)
    judgments = world.judgments()
    resolve_at_once = threading.Barrier(len(judgments))

    def resolve_one(judgment_id: int) -> None:  # several replicas' workers, each running one click's job
        resolve_at_once.wait()
        payload = {"judgment": judgment_id}
        resolve(world.services, payload, Job(id=judgment_id, kind=JOB_KIND, payload=payload, attempts=0))

    workers = [threading.Thread(target=resolve_one, args=(j.id,)) for j in judgments]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    world.drain()

    assert len(world.gate.calls_to("judge")) == 1
    outcomes = sorted(j.status for j in world.judgments())
    assert outcomes.count("decided") == 1
    winner = next(j for j in world.judgments() if j.status == "decided")
    loser = OTHER if winner.user_id == APPROVER else APPROVER
    assert set(outcomes) <= {"decided", "lost", "duplicate", "stale"}
    assert any("already chose" in note for note in world.told(loser))
    assert world.told(winner.user_id) == []  # double clicks are dropped quietly


def test_judgment_clicked_after_the_decision_tells_who_decided(world: World) -> None:
    message = world.start_judgment()
    world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()

    world.click(message, "judgment.reject", user=OTHER)
    world.submit_reason(user=OTHER, reason="too late")
    world.drain()

    assert len(world.gate.calls_to("judge")) == 1
    [note] = world.told(OTHER)
    assert note.startswith("Nothing to do: <@U0APPROVER> already chose *Approve*")
    assert world.judgments()[-1].status == "stale"


# --- rejecting with a reason -----------------------------------------------------------------------------


def test_judgment_rejected_through_the_reason_modal(world: World) -> None:
    message = world.start_judgment()

    response = world.click(message, "judgment.reject", user=APPROVER)
    [view] = world.slack.views()
    assert response.status_code == 200 and world.judgments() == []  # the modal asks first
    submitted = world.submit_reason(user=APPROVER, reason="Canary *failed* <!channel>")
    world.drain()

    assert (submitted.status_code, submitted.data) == (200, b"")  # an empty answer closes the modal
    assert view["callback_id"] == "judgment.reason"
    [patch] = world.gate.calls_to("judge")
    assert patch.body["judgmentStatus"] == "stop"
    assert patch.body["judgmentReason"] == "Canary *failed* <!channel>"
    assert stage(world)["status"] == "TERMINAL"
    shown = text_of(world.judgment_message())
    assert "<@U0APPROVER> rejected stage" in shown
    assert "Canary *failed* &lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert world.judgments()[0].reason == "Canary *failed* <!channel>"


def test_judgment_reject_asks_to_click_again_when_slack_refuses_the_modal(world: World) -> None:
    message = world.start_judgment()
    world.slack.fail_next("views.open", error="expired_trigger_id")

    world.click(message, "judgment.reject", user=APPROVER)
    world.drain()

    assert world.slack.views() == []
    assert world.judgments() == [] and world.gate.calls_to("judge") == []
    assert world.told(APPROVER) == [":warning: Nothing was rejected: Slack did not open the form for your "
                                    "reason (expired_trigger_id). Click the button again."]


def test_judgment_with_many_options_needs_one_picked(tmp_path: Path) -> None:
    run = events.execution()
    next(s for s in run["stages"] if s["id"] == STAGE_ID)["context"]["judgmentInputs"] = [
        {"value": f"region-{n}"} for n in range(6)]
    with judgment_world(tmp_path) as world:
        message = world.start_judgment(run)
        assert buttons(message) == ["judgment.option", "judgment.approve", "judgment.reject"]

        world.click(message, "judgment.approve", user=APPROVER)
        world.drain()
        assert world.gate.calls_to("judge") == []
        assert world.told(APPROVER)[0].startswith(":no_entry: You cannot judge this from Slack: pick one")

        assert world.click(message, "judgment.option", user=APPROVER, selected="4").status_code == 200
        world.click(message, "judgment.approve", user=APPROVER, selected="4")
        world.drain()

    [patch] = world.gate.calls_to("judge")
    assert patch.body["judgmentInput"] == "region-4"
    assert [j.status for j in world.judgments()] == ["refused", "decided"]


# --- who may judge ---------------------------------------------------------------------------------------


def test_judgment_refusal_in_dry_run_is_logged_as_the_ephemeral_it_would_be(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    message = world.start_judgment()
    world.dispatcher.poster = None  # from here on the relay runs without a bot token

    world.click(message, "judgment.choose.0", user=STRANGER)
    with caplog.at_level(logging.INFO, logger="relay.delivery.dispatcher"):
        world.drain()

    assert world.slack.ephemerals() == []
    [line] = [record.getMessage() for record in caplog.records if "judgment.note" in record.getMessage()]
    assert f"a note only {STRANGER} sees, in {message.channel}: :no_entry: You cannot judge" in line


def test_judgment_refused_by_policy_reaches_only_the_clicker(world: World) -> None:
    message = world.start_judgment()

    world.click(message, "judgment.choose.0", user=STRANGER)
    world.drain()

    assert world.gate.calls_to("judge") == []
    [note] = world.told(STRANGER)
    assert note == (":no_entry: You cannot judge this from Slack: you are not among the people allowed to "
                    "judge for compute.")
    assert all(m.visible_to == STRANGER for m in world.slack.ephemerals())
    assert buttons(world.judgment_message()) == ALL_BUTTONS
    assert world.judgments()[0].status == "refused"


def test_judgment_refused_where_no_policy_names_the_application(tmp_path: Path) -> None:
    rules = RelayRules(approvers={"billing*": ApproverPolicy(anyone=True)})
    with judgment_world(tmp_path, rules=rules) as world:
        world.click(world.start_judgment(), "judgment.choose.0", user=APPROVER)
        world.drain()

        assert "no rule for this application" in world.told(APPROVER)[0]
        assert world.gate.calls_to("judge") == []


def test_judgment_four_eyes_keeps_the_starter_from_approving(tmp_path: Path) -> None:
    rules = RelayRules(approvers={"comp*": ApproverPolicy(anyone=True, four_eyes=True)})
    with judgment_world(tmp_path, rules=rules) as world:
        message = world.start_judgment()
        world.click(message, "judgment.choose.0", user=STARTER)
        world.drain()
        world.click(message, "judgment.choose.0", user=APPROVER)
        world.drain()

        assert "you started this run" in world.told(STARTER)[0]
        assert [j.status for j in world.judgments()] == ["refused", "decided"]


def test_judgment_allowed_through_a_slack_user_group(tmp_path: Path) -> None:
    rules = RelayRules(approvers={"*": ApproverPolicy(groups=frozenset({"S0DEPLOYERS"}))})
    with judgment_world(tmp_path, rules=rules) as world:
        world.slack.add_usergroup("S0DEPLOYERS", [OTHER])
        message = world.start_judgment()
        world.click(message, "judgment.choose.1", user=STRANGER)
        world.click(message, "judgment.choose.1", user=OTHER)
        world.drain()

        outcomes = [(j.user_id, j.status) for j in world.judgments()]
        assert outcomes == [(STRANGER, "refused"), (OTHER, "decided")]
        assert world.gate.calls_to("judge")[0].body["judgmentInput"] == "Roll back"


def test_judgment_asks_fiat_for_execute_and_the_stages_roles(tmp_path: Path) -> None:
    with FakeFiat() as fiat:
        fiat.add_user(APPROVER_EMAIL, roles=["viewers"], applications={"compute": ["READ", "EXECUTE"]})
        fiat.add_user("other@example.com", roles=["deployers"], applications={"compute": ["READ"]})
        with judgment_world(tmp_path, fiat_url=fiat.url) as world:
            message = world.start_judgment(run_with_roles("deployers"))
            world.click(message, "judgment.choose.0", user=APPROVER)
            world.click(message, "judgment.choose.0", user=OTHER)
            world.drain()
            fiat.add_user(APPROVER_EMAIL, roles=["deployers"], applications={"compute": ["EXECUTE"]})
            world.click(message, "judgment.choose.0", user=APPROVER)
            world.drain()

            assert "holds none of the roles this stage requires (deployers)" in world.told(APPROVER)[0]
            assert "has no EXECUTE permission on compute" in world.told(OTHER)[0]
            assert [j.status for j in world.judgments()] == ["refused", "refused", "decided"]
            assert fiat.requests[0] == f"/authorize/{APPROVER_EMAIL}"


# --- what Spinnaker does -------------------------------------------------------------------------------


def test_judgment_reset_by_spinnakers_role_check_is_told_and_reopens(tmp_path: Path) -> None:
    with judgment_world(tmp_path, gate_options={"roles": {RELAY_IDENTITY: ["viewers"]}}) as world:
        message = world.start_judgment(run_with_roles("deployers"))

        world.click(message, "judgment.choose.0", user=APPROVER)
        world.drain()

        assert len(world.gate.calls_to("judge")) == 1
        assert stage(world)["status"] == "RUNNING" and stage(world)["context"]["judgmentStatus"] == ""
        [note] = world.told(APPROVER)
        assert "required roles (deployers) against relay-bot@example.com" in note
        assert "the buttons are back" in note
        restored = world.judgment_message()
        assert buttons(restored) == ALL_BUTTONS
        assert "was not accepted by Spinnaker" in text_of(restored)
        assert world.judgments()[0].status == "reset"

        world.click(restored, "judgment.choose.1", user=OTHER)  # the claim was given back: another try
        world.drain()
        assert len(world.gate.calls_to("judge")) == 2


def test_judgment_made_in_spinnakers_ui_updates_the_slack_message(world: World) -> None:
    message = world.start_judgment()

    world.gate.judge(RUN_ID, STAGE_ID, "continue", user="deck-user@example.com", judgment_input="Roll back")
    judged = world.gate.execution(RUN_ID)
    assert world.echo(events.stage_event("complete", judged, stage_id=STAGE_ID)).status_code == 202
    world.drain()

    shown = world.judgment_message()
    assert buttons(shown) == []
    assert "was judged to *continue* by deck-user@example.com in Spinnaker" in text_of(shown)
    assert "Roll back" in text_of(shown)
    world.click(message, "judgment.choose.0", user=APPROVER)  # a click on a stale copy changes nothing
    world.drain()
    assert world.gate.calls_to("judge") == []
    assert world.told(APPROVER) == [
        "Nothing to do: it was already judged to continue by deck-user@example.com."]


def test_judgment_timed_out_is_shown_as_an_expiry_never_as_a_decision(world: World) -> None:
    world.start_judgment()

    world.gate.time_out(RUN_ID, STAGE_ID)
    world.echo(events.stage_event("failed", world.gate.execution(RUN_ID), stage_id=STAGE_ID))
    world.drain()

    shown = world.judgment_message()
    assert buttons(shown) == []
    assert "Expired after 6 h without a decision" in text_of(shown)  # the stage's stageTimeoutMs
    channel = shown.channel
    said = [text_of(m) for m in world.slack.messages(channel)]
    said += [text_of(r) for m in world.slack.messages(channel) for r in world.slack.replies(channel, m.ts)]
    assert not [text for text in said if "judged" in text]


def test_judgment_of_a_canceled_run_loses_its_buttons(world: World) -> None:
    world.start_judgment()

    world.services.gate.cancel(RUN_ID, reason="wrong branch")
    canceled = world.gate.execution(RUN_ID)
    assert world.echo(events.pipeline_event("failed", canceled)).status_code == 202
    world.drain()

    shown = text_of(world.judgment_message())
    assert buttons(world.judgment_message()) == []
    assert "the run was canceled" in shown and "*Canceled by* relay-bot@example.com: wrong branch" in shown


def test_judgment_sent_but_not_yet_acted_on_is_watched_then_left_to_events(tmp_path: Path) -> None:
    with judgment_world(tmp_path, gate_options={"finish_after": None}) as world:
        message = world.start_judgment()
        world.click(message, "judgment.choose.0", user=APPROVER)
        world.drain()
        assert world.judgments()[0].status == "patched"
        assert "sending it to Spinnaker" in text_of(world.judgment_message())

        waited = 0.0
        while world.judgments()[0].status == "patched" and waited < 2 * POLL_SECONDS:
            world.clock.advance(5)
            waited += 5
            world.drain()
        assert world.judgments()[0].status == "unconfirmed"
        assert POLL_SECONDS <= waited < POLL_SECONDS + 20
        assert "has not acted on it after a minute" in world.told(APPROVER)[0]

        world.gate.process()  # Orca gets to it at last; its event brings the final word
        world.echo(events.stage_event("complete", world.gate.execution(RUN_ID), stage_id=STAGE_ID))
        world.drain()

        shown = text_of(world.judgment_message())
        assert "<@U0APPROVER> approved stage" in shown
        assert len(world.gate.calls_to("judge")) == 1


# --- Gate's errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, explanation", [
    (403, "Gate answered 403: the identity the relay uses in Spinnaker may not run compute's pipelines (it "
          "needs EXECUTE on compute)"),
    (404, f"Spinnaker has no run {RUN_ID} any more (Gate answered 404)"),
])
def test_judgment_refused_by_gate_is_explained_and_buttons_restored(world: World, status: int,
                                                                    explanation: str) -> None:
    message = world.start_judgment()
    world.gate.fail_next("judge", status=status)

    world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()

    [note] = world.told(APPROVER)
    assert note == f":warning: Nothing was decided: {explanation}."
    restored = world.judgment_message()
    assert buttons(restored) == ALL_BUTTONS
    assert "did not go through" in text_of(restored)
    [judgment] = world.judgments()
    assert (judgment.status, judgment.gate_status, judgment.claim) == ("failed", status, None)
    assert len(world.gate.calls_to("judge")) == 1  # final: not retried


def test_judgment_for_a_run_gate_will_not_show_is_explained(world: World) -> None:
    message = world.start_judgment()
    world.gate.forbid(RUN_ID)  # Gate answers GET with 200 and no body

    world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()

    assert "the relay may not read this run in Spinnaker" in world.told(APPROVER)[0]
    assert world.gate.calls_to("judge") == []
    assert buttons(world.judgment_message()) == ALL_BUTTONS


def test_judgment_retries_gate_5xx_later_without_sleeping(world: World) -> None:
    message = world.start_judgment()
    world.gate.fail_next("get_execution", status=502)
    world.gate.fail_next("judge", status=503)

    world.click(message, "judgment.choose.0", user=APPROVER)
    world.drain()
    assert [j.status for j in world.judgments()] == ["received"]
    world.clock.advance(60)
    world.drain()
    assert [j.status for j in world.judgments()] == ["patching"]  # did the PATCH land? Ask first.
    world.clock.advance(60)
    world.drain()

    assert [j.status for j in world.judgments()] == ["decided"]
    assert len(world.gate.calls_to("judge")) == 2


def test_judgment_whose_patch_answer_was_lost_is_not_sent_again(tmp_path: Path) -> None:
    with judgment_world(tmp_path, gate_timeout=0.5) as world:
        message = world.start_judgment()
        world.gate.fail_next("judge", status=None, delay=1.0)  # Orca applies it; the answer comes too late

        world.click(message, "judgment.choose.0", user=APPROVER)
        world.drain()
        assert [j.status for j in world.judgments()] == ["patching"]
        world.gate.wait_for(lambda: stage(world)["context"].get("judgmentStatus") == "continue")
        world.clock.advance(60)
        world.drain()

        assert len(world.gate.calls_to("judge")) == 1
        assert [j.status for j in world.judgments()] == ["decided"]


def test_judgment_gives_up_on_an_unreachable_gate_and_reopens(world: World) -> None:
    message = world.start_judgment()
    world.click(message, "judgment.choose.0", user=APPROVER)
    world.gate.fail_next("judge", status=503, count=1000)
    world.drain()
    for _ in range(30):
        world.clock.advance(60)
        world.drain()

    [judgment] = world.judgments()
    assert judgment.status == "failed" and judgment.claim is None
    assert "could not be reached for 10 minutes" in world.told(APPROVER)[-1]
    assert buttons(world.judgment_message()) == ALL_BUTTONS


# --- attribution ---------------------------------------------------------------------------------------


def test_judgment_through_orca_directly_is_attributed_to_the_clicker(tmp_path: Path) -> None:
    gate_options = {"trust_user_header": True, "roles": {APPROVER_EMAIL: ["deployers"]}}
    with judgment_world(tmp_path, gate_options=gate_options, gate_user_header=True) as world:
        world.click(world.start_judgment(run_with_roles("deployers")), "judgment.choose.0", user=APPROVER)
        world.drain()

        assert world.gate.calls_to("judge")[0].headers["x-spinnaker-user"] == APPROVER_EMAIL
        assert stage(world)["context"]["lastModifiedBy"] == APPROVER_EMAIL
        assert world.judgments()[0].gate_user == APPROVER_EMAIL


# --- around the flow -----------------------------------------------------------------------------------


def test_judgment_continue_notification_names_the_slack_judge_and_leaves_the_buttons_message_mapped(
        tmp_path: Path) -> None:
    run = events.execution()
    context = next(s for s in run["stages"] if s["id"] == STAGE_ID)["context"]
    context["notifications"][0]["when"] = ["manualJudgment", "manualJudgmentContinue"]
    with judgment_world(tmp_path) as world:
        message = world.start_judgment(run)
        world.click(message, "judgment.choose.0", user=APPROVER)
        world.drain()

        world.echo(events.stage_event("complete", world.gate.execution(RUN_ID), stage_id=STAGE_ID))
        world.drain()

        replies = world.slack.replies(JUDGMENT_CHANNEL, message.thread_ts)
        assert "<@U0APPROVER> approved stage" in text_of(replies[-1])
        assert world.judgment_message().ts == message.ts  # later updates still find the message with buttons


def test_judgments_cli_lists_the_audit_trail(world: World) -> None:
    world.click(world.start_judgment(), "judgment.reject", user=APPROVER)
    world.submit_reason(user=APPROVER, reason="canary red")
    world.click(world.judgment_message(), "judgment.choose.0", user=STRANGER)
    world.drain()

    result = CliRunner().invoke(cli, ["judgments"], env={
        "RELAY_DATABASE_URL": world.services.settings.database_url, "RELAY_CONFIG": ""})

    assert result.exit_code == 0, result.output
    header, newest, oldest = result.output.splitlines()
    assert header.split() == ["ID", "RECEIVED", "(UTC)", "STATUS", "DECISION", "BY", "APPLICATION",
                              "EXECUTION/STAGE", "OUTCOME"]
    assert "decided" in oldest and "stop" in oldest and APPROVER_EMAIL in oldest
    assert 'reason="canary red"' in oldest and "gate=200 stage=TERMINAL" in oldest
    assert f"compute      {RUN_ID}/{STAGE_ID}" in oldest
    assert "stale" in newest and "stranger@example.com" not in newest and STRANGER in newest
    assert "<" not in result.output and "?" not in result.output


def test_judgment_setup_problems_are_said_at_startup(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url="sqlite://")
    create_app(settings, services=build_services(settings, store=Store.from_url("sqlite://")))

    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any(w.startswith("SLACK_SIGNING_SECRET is not set") for w in warnings)
    assert any(w.startswith("GATE_URL is not set") for w in warnings)
    assert any("no `approvers` policy: no one may judge from Slack" in w for w in warnings)


def test_judgment_decided_before_its_message_went_out_is_posted_then_corrected(world: World) -> None:
    run = events.execution()
    world.gate.add_execution(run)
    world.echo(events.stage_event("starting", run, stage_id=STAGE_ID))
    world.gate.judge(RUN_ID, STAGE_ID, "stop", user="deck-user@example.com")

    world.echo(events.stage_event("failed", world.gate.execution(RUN_ID), stage_id=STAGE_ID))
    world.drain()

    shown = world.judgment_message()
    assert buttons(shown) == [] and shown.updates == 1
    assert "was judged to *stop* by deck-user@example.com in Spinnaker" in text_of(shown)


def test_judgment_without_run_threads_reports_under_the_judgment_message(tmp_path: Path) -> None:
    with judgment_world(tmp_path, message_per_run=False) as world:
        message = world.start_judgment()
        assert message.thread_ts is None  # posted on its own

        world.click(message, "judgment.choose.1", user=APPROVER)
        world.drain()

        [report] = world.slack.replies(JUDGMENT_CHANNEL, message.ts)
        assert "<@U0APPROVER> approved" in text_of(report) and "Roll back" in text_of(report)
        assert buttons(world.judgment_message()) == []
