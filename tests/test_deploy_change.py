"""From → to on deploy stage messages: the line planned from the store alone, and the job that asks the
(real HTTP) fake Gate once the message is out and rewrites that line through the outbox, on SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.changes.deploys import KEY_PREFIX, planned_change, with_line
from relay.models import EchoEvent, Notification
from relay.spinnaker.deployed import DEPLOY_STAGE_TYPES
from relay.store import LastSuccess, Store
from schemas.blocks import MAX_SECTION_TEXT, section
from schemas.echo import EVENT_SCHEMA
from tests import events
from tests.fakes import Message
from tests.judgment_world import STAGE_ID, World, judgment_world, text_of
from tests.test_judgment_change import CONFIG_ID, NEW_SHA, OLD_SHA, STARTED_MS, current_run, previous_run

CHANNEL = "#deploys"
UI = "http://localhost:9000"  # the Settings default the worlds keep
UNKNOWN = f"*Change* from _unknown_ → to `{NEW_SHA[:12]}`"
COMPARE = f"<https://github.com/acme/shop/compare/{OLD_SHA}...{NEW_SHA}|compare>"


def deploy_stage(stage_type: str = "deploy", *, status: str = "SUCCEEDED") -> dict[str, Any]:
    """Orca's real `Deploy to US West` stage, finished, notifying CHANNEL of each of its states."""
    parent = events.payload("orca_execution_with_manualJudgment_in_parent.json")["trigger"]["parentExecution"]
    stage = next(s for s in parent["stages"] if s["name"] == "Deploy to US West")
    stage.update(type=stage_type, status=status, startTime=STARTED_MS + 60_000, endTime=STARTED_MS + 120_000)
    stage["context"].update(sendNotifications=True, notifications=[
        {"type": "slack", "address": CHANNEL, "level": "stage",
         "when": ["stage.starting", "stage.complete", "stage.failed"]}])
    return stage


DEPLOY_STAGE_ID = deploy_stage()["id"]


def deploy_run(**overrides: Any) -> dict[str, Any]:
    """A run of the judgment tests' pipeline (a GitHub push of NEW_SHA) with a deploy stage."""
    run = current_run(**overrides)
    run["stages"].append(deploy_stage())
    return run


def deploy_key(run: dict[str, Any], state: str = "complete") -> str:
    return f"{KEY_PREFIX}{run['id']}/{DEPLOY_STAGE_ID}/{state}@{CHANNEL}"


def notification(run: dict[str, Any], *, status: str = "complete",
                 template: str = "stage.complete") -> Notification:
    event: EchoEvent = EVENT_SCHEMA.load(events.stage_event(status, run, stage_id=DEPLOY_STAGE_ID))
    return Notification(event=event, address=CHANNEL, when=f"stage.{status}", template=template,
                        preference={})


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store.from_url("sqlite://")
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.mark.parametrize("stage_type", sorted(DEPLOY_STAGE_TYPES))
def test_planned_change_is_unknown_and_keyed_while_the_store_knows_nothing(store: Store,
                                                                            stage_type: str) -> None:
    run = current_run()
    run["stages"].append(deploy_stage(stage_type))
    planned = planned_change(notification(run), store=store, ui_url=UI)
    assert planned is not None
    assert (planned.line, planned.message_key) == (UNKNOWN, deploy_key(run))


def test_planned_change_reads_an_answer_the_store_holds_for_this_run(store: Store) -> None:
    run = deploy_run()
    store.remember_last_success(CONFIG_ID, LastSuccess(execution_id=None, start_time=None, version=None,
                                                       checked_at=STARTED_MS / 1000 + 1))
    planned = planned_change(notification(run), store=store, ui_url=UI)
    assert planned is not None
    first = f"*Change* from _first deploy_ → to `{NEW_SHA[:12]}`"
    assert (planned.line, planned.message_key) == (first, None)


def test_planned_change_ignores_an_answer_given_before_the_run_started(store: Store) -> None:
    run = deploy_run()
    store.remember_last_success(CONFIG_ID, LastSuccess(execution_id=None, start_time=None, version=None,
                                                       checked_at=STARTED_MS / 1000 - 1))
    planned = planned_change(notification(run), store=store, ui_url=UI)
    assert planned is not None and planned.line == UNKNOWN


@pytest.mark.parametrize(("stage_type", "template"), [
    ("wait", "stage.complete"),
    ("bakeManifest", "stage.complete"),
    ("deploy", "stage.skipped"),
])
def test_planned_change_is_none_unless_a_deploy_stage_puts_something_out(store: Store, stage_type: str,
                                                                         template: str) -> None:
    run = current_run()
    run["stages"].append(deploy_stage(stage_type))
    assert planned_change(notification(run, template=template), store=store, ui_url=UI) is None


def test_planned_change_of_a_task_run_by_hand_has_no_lookup_to_wait_for(store: Store) -> None:
    run = deploy_run()
    del run["pipelineConfigId"]
    planned = planned_change(notification(run), store=store, ui_url=UI)
    assert planned is not None and (planned.line, planned.message_key) == (UNKNOWN, None)


def test_with_line_replaces_only_the_planned_line() -> None:
    body = {"text": "Stage Deploy completed", "blocks": [
        section(f"{UNKNOWN} in the summary, not a line of its own"),
        section(f"{UNKNOWN}\n*Commit* abc"), section(UNKNOWN)]}
    rewritten = with_line(copy.deepcopy(body), UNKNOWN, "*Change* from `1.0` → to `2.0`")
    assert rewritten is not None
    assert [b["text"]["text"] for b in rewritten["blocks"]] == [
        body["blocks"][0]["text"]["text"], "*Change* from `1.0` → to `2.0`\n*Commit* abc", UNKNOWN]
    assert with_line(body, "*Change* from _first deploy_ → to `2.0`", "x") is None


def test_with_line_keeps_the_section_within_slack_limits() -> None:
    body = {"text": "t", "blocks": [section(UNKNOWN + "\n" + "a" * (MAX_SECTION_TEXT - len(UNKNOWN) - 1))]}
    rewritten = with_line(body, UNKNOWN, UNKNOWN + " " + "b" * 200)
    assert rewritten is not None and len(rewritten["blocks"][0]["text"]["text"]) == MAX_SECTION_TEXT


def deploy(world: World, run: dict[str, Any], status: str = "complete") -> None:
    """Gate holds the run; Echo reports the deploy stage; the relay posts and follows up."""
    world.gate.add_execution(run)
    assert world.echo(events.stage_event(status, run, stage_id=DEPLOY_STAGE_ID)).status_code == 202
    world.drain()


def deploy_message(world: World, run: dict[str, Any], state: str = "complete") -> Message:
    ref = world.store.message(deploy_key(run, state))
    assert ref is not None, "the deploy stage's message was never posted"
    message = world.slack.message(ref.channel, ref.ts)
    assert message is not None
    return message


def change_of(text: str) -> str:
    return next((line for line in text.splitlines() if line.startswith("*Change*")), "")


def posted_change(world: World) -> str:
    """The from → to line of the one message posted with one: the deploy stage's, as first posted."""
    (post,) = [c for c in world.slack.calls_to("chat.postMessage") if "*Change*" in str(c.params["blocks"])]
    return change_of("\n".join(b["text"]["text"] for b in post.params["blocks"] if "text" in b))


def test_deploy_change_is_looked_up_after_the_post_and_rewritten(tmp_path: Path, db_url: str) -> None:
    with judgment_world(tmp_path, database_url=db_url) as world:
        world.gate.add_execution(previous_run())
        run = deploy_run()
        world.gate.add_execution(run)
        assert world.echo(events.stage_event("complete", run, stage_id=DEPLOY_STAGE_ID)).status_code == 202
        assert world.gate.calls == []  # the webhook never waits for Gate
        world.drain()
        assert posted_change(world) == UNKNOWN
        (update,) = world.slack.calls_to("chat.update")
        change = change_of(text_of(deploy_message(world, run)))
        assert change.startswith("*Change* from <") and "01PREVIOUSRUN000000000000A" in change
        assert change.endswith(f"|{OLD_SHA[:12]}> → to `{NEW_SHA[:12]}` ({COMPARE})")
        assert [c.route for c in world.gate.calls] == ["get_execution", "latest_executions"]
        assert "*Build*" not in text_of(deploy_message(world, run))  # the rest of the message is as posted


def test_deploy_change_says_first_deploy_without_a_previous_success(tmp_path: Path, db_url: str) -> None:
    with judgment_world(tmp_path, database_url=db_url) as world:
        world.gate.add_execution(previous_run(status="TERMINAL"))
        run = deploy_run()
        deploy(world, run)
        assert change_of(text_of(deploy_message(world, run))) == \
            f"*Change* from _first deploy_ → to `{NEW_SHA[:12]}`"


@pytest.mark.parametrize(("route", "fault"), [
    ("get_execution", {"status": 500}), ("latest_executions", {"status": 500}),
    ("latest_executions", {"status": None, "delay": 1.0}),
], ids=["run-unread", "lookup-error", "lookup-slow"])
def test_deploy_change_failed_lookup_leaves_the_message_unknown(tmp_path: Path, route: str,
                                                                fault: dict) -> None:
    with judgment_world(tmp_path, gate_timeout=0.2) as world:
        world.gate.add_execution(previous_run())
        world.gate.fail_next(route, **fault)
        run = deploy_run()
        deploy(world, run)
        assert change_of(text_of(deploy_message(world, run))) == UNKNOWN
        assert world.slack.calls_to("chat.update") == []
        assert world.store.last_success(CONFIG_ID) is None


def test_deploy_change_known_from_the_runs_judgment_is_posted_with_the_message(tmp_path: Path,
                                                                              db_url: str) -> None:
    with judgment_world(tmp_path, database_url=db_url) as world:
        world.gate.add_execution(previous_run())
        run = deploy_run()
        world.start_judgment(run)  # its message's lookup answers for the whole run
        world.slack.clear_calls()
        deploy(world, run)
        assert COMPARE in posted_change(world)
        assert world.slack.calls_to("chat.update") == []
        assert world.store.message(deploy_key(run)) is None  # nothing left to rewrite
        assert len(world.gate.calls_to("latest_executions")) == 1


def test_deploy_change_rewrites_each_message_of_the_stage_with_one_lookup(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        run = deploy_run()
        running = copy.deepcopy(run)
        stage = next(s for s in running["stages"] if s["id"] == DEPLOY_STAGE_ID)
        stage.update(status="RUNNING", endTime=None)
        world.gate.add_execution(running)
        for status, snapshot in (("starting", running), ("complete", run)):
            event = events.stage_event(status, snapshot, stage_id=DEPLOY_STAGE_ID)
            assert world.echo(event).status_code == 202
        world.drain()
        started, completed = (change_of(text_of(deploy_message(world, run, state)))
                              for state in ("starting", "complete"))
        assert COMPARE in started and started == completed
        assert len(world.slack.calls_to("chat.update")) == 2
        assert len(world.gate.calls_to("latest_executions")) == 1


def test_deploy_change_rewrites_a_message_posted_on_its_own(tmp_path: Path) -> None:
    with judgment_world(tmp_path, message_per_run=False) as world:
        world.gate.add_execution(previous_run())
        run = deploy_run()
        deploy(world, run)
        assert posted_change(world) == UNKNOWN and COMPARE in change_of(text_of(deploy_message(world, run)))


def test_deploy_change_is_not_looked_up_for_other_stages(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        run = current_run()
        wait = next(s for s in run["stages"] if s["id"] != STAGE_ID)
        wait["context"].update(sendNotifications=True, notifications=[
            {"type": "slack", "address": CHANNEL, "level": "stage", "when": ["stage.complete"]}])
        world.gate.add_execution(run)
        assert world.echo(events.stage_event("complete", run, stage_id=wait["id"])).status_code == 202
        world.drain()
        assert world.slack.calls_to("chat.postMessage") and world.gate.calls == []
        assert "*Change*" not in str(world.slack.calls)
