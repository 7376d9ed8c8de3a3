"""Golden messages: every real execution in tests/payloads, as each event type it can send, rendered to Block
Kit and compared with the readable JSON under tests/golden. `UPDATE_GOLDEN=1` rewrites the files."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relay.config import Settings
from relay.judgments.messages import judgment_message
from relay.notifications.match import decide
from relay.notifications.plan import plan
from relay.notifications.recipes import render_recipe
from relay.notifications.render import render
from relay.spinnaker.deployed import change_line
from relay.spinnaker.execution import execution_link
from relay.spinnaker.versions import version_of
from relay.store import LastSuccess, Store
from schemas.config import WHEN_VALUES
from schemas.echo import EVENT_SCHEMA
from tests.events import JUDGMENT_STAGE_ID, execution, payload, pipeline_event, stage_event
from tests.test_judgment_change import NEW_SHA, OLD_SHA, git_trigger
from tests.test_rendering import UI, assert_valid_block_kit, texts

GOLDEN = Path(__file__).parent / "golden"
EVERYTHING = {"type": "slack", "address": "#deploys", "when": list(WHEN_VALUES)}


def notifying(run: dict[str, Any]) -> dict[str, Any]:
    """The run with every preference on, for the run and for each of its stages."""
    run = copy.deepcopy(run)
    run["notifications"] = [dict(EVERYTHING)]
    for stage in run["stages"]:
        if isinstance(stage.get("context"), dict):
            stage["context"].update(sendNotifications=True, notifications=[dict(EVERYTHING)])
    return run


def strategy_run() -> dict:
    """Orca's pipelinetrigger.json: a TERMINAL run (marked canceled) whose error sits on a synthetic child."""
    return notifying(payload("orca_execution_with_manualJudgment_in_parent.json"))


def parent_run() -> dict:
    return notifying(
        payload("orca_execution_with_manualJudgment_in_parent.json")["trigger"]["parentExecution"]
    )


def canary_run() -> dict:
    parent = payload("orca_execution_with_manualJudgment_in_parent.json")["trigger"]["parentExecution"]
    run = notifying(parent["trigger"]["parentExecution"])
    judgment = next(s for s in run["stages"] if s["type"] == "manualJudgment")
    judgment.update(status="RUNNING", startTime=1510187402445, endTime=None)  # a fixed deadline
    return run


def gate_run(name: str) -> Callable[[], dict]:
    def build() -> dict:
        return notifying(payload(name))

    return build


def jenkins_trigger() -> dict:
    """The build in Echo's real igor event, as Orca's Jenkins trigger carries it."""
    (build, *_) = payload("echo_events_envelope_igor_build.json")
    project = build["content"]["project"]
    return {
        "type": "jenkins",
        "master": build["content"]["master"],
        "job": project["name"],
        "buildNumber": project["lastBuild"]["number"],
        "buildInfo": {"name": project["name"], **project["lastBuild"]},
    }


def jenkins_run() -> dict:
    """The Gate running run with the Manual Judgment stage, started by the build in Echo's real igor event."""
    run = execution(trigger=jenkins_trigger())  # with the fixture's own start, so the deadline is fixed
    next(s for s in run["stages"] if s["id"] == JUDGMENT_STAGE_ID)["startTime"] = 1551205790000
    return notifying(run)


def judged_run() -> dict:
    captured = payload("armory_policy_input_manualJudgment_stage_judged.json")["input"]
    run = captured["pipeline"]
    run["stages"] = [captured["stage"]]
    return notifying(run)


def by_name(name: str) -> Callable[[dict], str]:
    return lambda run: next(s["id"] for s in run["stages"] if s["name"] == name)


def first_stage(run: dict) -> str:
    return run["stages"][0]["id"]


def pipeline(status: str) -> Callable[[dict], dict]:
    return lambda run: pipeline_event(status, run)


def stage(status: str, stage_id: Callable[[dict], str], **content: Any) -> Callable[[dict], dict]:
    return lambda run: stage_event(status, run, stage_id=stage_id(run), **content)


CASES = [
    ("strategy", strategy_run, "pipeline-failed", pipeline("failed")),
    # While the run went on, its stage events were not yet marked canceled.
    ("strategy", strategy_run, "stage-failed", stage("failed", by_name("Create New ASG"), canceled=False)),
    ("parent", parent_run, "pipeline-starting", pipeline("starting")),
    ("parent", parent_run, "stage-starting", stage("starting", by_name("Deploy to US West"))),
    ("canary", canary_run, "stage-complete", stage("complete", by_name("Canary"))),
    ("canary", canary_run, "judgment-awaiting", stage("starting", by_name("Proceed Anyway?"))),
    (
        "gate-running",
        gate_run("gate_GET_pipelines_id_running.json"),
        "pipeline-starting",
        pipeline("starting"),
    ),
    (
        "gate-running",
        gate_run("gate_GET_pipelines_id_running.json"),
        "stage-starting",
        stage("starting", first_stage),
    ),
    (
        "gate-succeeded",
        gate_run("gate_GET_pipelines_id_succeeded.json"),
        "pipeline-complete",
        pipeline("complete"),
    ),
    (
        "gate-succeeded",
        gate_run("gate_GET_pipelines_id_succeeded.json"),
        "stage-complete",
        stage("complete", first_stage),
    ),
    ("igor-jenkins", jenkins_run, "judgment-awaiting", stage("starting", lambda run: JUDGMENT_STAGE_ID)),
    ("igor-jenkins", jenkins_run, "pipeline-starting", pipeline("starting")),
    ("armory-judged", judged_run, "judgment-continued", stage("complete", first_stage)),
]


def assert_no_empty_field(body: dict) -> None:
    """No text Slack shows is blank, a bare label, or Python's None."""
    for text in texts(body["blocks"]):
        assert text.strip(), body
        assert "None" not in text.split(), text
        value = text.split("*\n", 1)[1] if text.startswith("*") and "*\n" in text else text
        assert value.strip(), text


@pytest.mark.parametrize(
    ("fixture", "build_run", "event", "build_event"),
    [pytest.param(*case, id=f"{case[0]}-{case[2]}") for case in CASES],
)
def test_golden_message_for_each_real_execution(
    fixture: str, build_run: Callable[[], dict], event: str, build_event: Callable[[dict], dict]
) -> None:
    document = build_event(build_run())
    document["eventId"] = f"golden-{fixture}-{event}"
    notifications = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"})).notifications
    bodies = [render(notification, UI) for notification in notifications]
    assert len(bodies) == 1, [n.template for n in notifications]
    (body,) = bodies
    assert_valid_block_kit(body)
    assert_no_empty_field(body)
    golden = GOLDEN / f"{fixture}__{event}.json"
    rendered = (
        json.dumps({"template": notifications[0].template, **body}, indent=2, ensure_ascii=False) + "\n"
    )
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def previous_build(run: dict) -> dict:
    """The same Jenkins-triggered pipeline one build earlier, succeeded."""
    earlier = copy.deepcopy(run)
    earlier.update(id="01PREVIOUSBUILDRUN00000000", status="SUCCEEDED")
    earlier["trigger"]["buildNumber"] -= 1
    earlier["trigger"]["buildInfo"]["number"] -= 1
    return earlier


CHANGE_CASES = [
    ("igor-jenkins", jenkins_run, lambda run: change_line(
        version_of(run), before=version_of(previous_build(run)),
        previous_url=execution_link(UI, run["application"], previous_build(run)["id"]))),
    ("canary", canary_run, lambda run: change_line(version_of(run), first=True)),
]


@pytest.mark.parametrize(("fixture", "build_run", "build_change"),
                         [pytest.param(*case, id=case[0]) for case in CHANGE_CASES])
def test_golden_judgment_change_for_real_executions(
    fixture: str, build_run: Callable[[], dict], build_change: Callable[[dict], str]
) -> None:
    run = build_run()
    stage_id = next(s["id"] for s in run["stages"] if s["type"] == "manualJudgment")
    body = judgment_message(run, stage_id, UI, channel="#deploys", change=build_change(run))
    assert_valid_block_kit(body)
    assert_no_empty_field(body)
    golden = GOLDEN / f"{fixture}__judgment-awaiting-change.json"
    rendered = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def parent_git_run() -> dict:
    """The parent run, its Deploy to US West stage finished, started by a GitHub push, not its parent."""
    run = parent_run()
    run["trigger"] = git_trigger(NEW_SHA)
    next(s for s in run["stages"] if s["name"] == "Deploy to US West")["status"] = "SUCCEEDED"
    return run


def parent_of_git_run() -> dict:
    """The parent run as its own parent pipeline started it, that one started by a GitHub push: the version
    comes from up the chain."""
    run = parent_run()
    run["trigger"]["parentExecution"]["trigger"] = git_trigger(NEW_SHA)
    return run


def strategy_jenkins_run() -> dict:
    """The strategy run started by the build in Echo's real igor event instead of its parent."""
    run = strategy_run()
    run["trigger"] = jenkins_trigger()
    return run


def previous_push(run: dict) -> LastSuccess:
    """The pipeline's run before `run`, a push of OLD_SHA, as the lookup job stores it."""
    return LastSuccess(execution_id="01PREVIOUSPUSHRUN000000000", start_time=run["startTime"] - 3_600_000,
                       version=version_of({"trigger": git_trigger(OLD_SHA)}).to_json(),
                       checked_at=run["startTime"] / 1000 + 60)


def no_success(run: dict) -> LastSuccess:
    return LastSuccess(execution_id=None, start_time=None, version=None,
                       checked_at=run["startTime"] / 1000 + 60)


DEPLOY_CASES = [
    # Nothing looked up yet, and a run started by its parent pipeline names no version of its own, nor does
    # any run up its chain (the first was started by cron).
    ("parent", parent_run, "deploy-starting-unknown", stage("starting", by_name("Deploy to US West")), None),
    ("parent-of-git", parent_of_git_run, "deploy-starting-parent-version",
     stage("starting", by_name("Deploy to US West")), None),
    ("parent-git", parent_git_run, "deploy-complete-known", stage("complete", by_name("Deploy to US West")),
     previous_push),
    ("strategy-jenkins", strategy_jenkins_run, "deploy-failed-first-deploy",
     stage("failed", by_name("Create New ASG"), canceled=False), no_success),
]


@pytest.mark.parametrize(("fixture", "build_run", "event", "build_event", "stored"),
                         [pytest.param(*case, id=f"{case[0]}-{case[2]}") for case in DEPLOY_CASES])
def test_golden_deploy_stage_change_for_real_executions(
    fixture: str, build_run: Callable[[], dict], event: str, build_event: Callable[[dict], dict],
    stored: Callable[[dict], LastSuccess] | None,
) -> None:
    """The deploy stage's reply as planned: from → to as the store knows it, `unknown` (and a message key for
    the lookup job's rewrite) when it knows nothing."""
    run = build_run()
    document = build_event(run)
    document["eventId"] = f"golden-{fixture}-{event}"
    store = Store.from_url("sqlite://")
    store.create_schema()
    if stored is not None:
        store.remember_last_success(run["pipelineConfigId"], stored(run))
    notifications = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"})).notifications
    settings = Settings(spinnaker_ui_url=UI)
    drafts = plan(notifications, settings=settings, store=store)
    (reply,) = [draft for draft in drafts if draft.action == "reply"]
    body = render_recipe(reply.recipe, notifications[0].event, settings=settings, store=store)
    store.engine.dispose()
    assert_valid_block_kit(body)
    assert_no_empty_field(body)
    golden = GOLDEN / f"{fixture}__{event}.json"
    rendered = json.dumps({"template": reply.template, "message_key": reply.message_key, **body},
                          indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text()
