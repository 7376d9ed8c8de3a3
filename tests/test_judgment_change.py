"""From → to on Manual Judgment messages: versions, compare links, and the Gate lookup run as a job after
the message is out, with its answer kept in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relay.spinnaker.deployed import change_line
from relay.spinnaker.versions import Version, compare_url, previous_success, version_of
from tests import events
from tests.judgment_world import APPROVER, JUDGMENT_CHANNEL, STAGE_ID, buttons, judgment_world, text_of

OLD_SHA, NEW_SHA = "1f2e3d4c5b6a79881f2e3d4c5b6a798812345678", "a9b8c7d6e5f40312a9b8c7d6e5f4031287654321"
CONFIG_ID = events.execution()["pipelineConfigId"]
STARTED_MS = events.execution()["startTime"]
ALL_BUTTONS = ["judgment.choose.0", "judgment.choose.1", "judgment.reject"]


def git_trigger(sha: str, source: str = "github") -> dict[str, Any]:
    return {"type": "git", "source": source, "project": "acme", "slug": "shop", "branch": "main", "hash": sha,
            "user": "alice@example.com"}


def previous_run(sha: str = OLD_SHA, *, run_id: str = "01PREVIOUSRUN000000000000A",
                 started: int = STARTED_MS - 3_600_000, status: str = "SUCCEEDED") -> dict[str, Any]:
    """An earlier run of the same pipeline, finished."""
    return events.execution(id=run_id, status=status, startTime=started, endTime=started + 60_000,
                            trigger=git_trigger(sha))


def current_run(sha: str = NEW_SHA, **overrides: Any) -> dict[str, Any]:
    return events.execution(trigger=git_trigger(sha), **overrides)


@pytest.mark.parametrize(("trigger", "label", "commit"), [
    (git_trigger(NEW_SHA), NEW_SHA[:12], NEW_SHA),
    ({"type": "jenkins", "job": "app-build", "buildNumber": 42, "source": "github", "project": "acme",
      "slug": "shop", "buildInfo": {"name": "app-build", "number": 42, "scm": [{"sha1": OLD_SHA}]}},
     OLD_SHA[:12], OLD_SHA),
    ({"type": "docker", "repository": "acme/shop", "tag": "1.4.2"}, "acme/shop:1.4.2", None),
    ({"type": "manual", "artifacts": [{"name": "shop.jar", "version": "1.4.2", "type": "maven/file"}]},
     "shop.jar 1.4.2", None),
    ({"type": "jenkins", "job": "app-build", "buildNumber": 42}, "app-build #42", None),
])
def test_version_of_reads_each_trigger_shape(trigger: dict, label: str, commit: str | None) -> None:
    version = version_of({"trigger": trigger})
    assert version is not None and (version.label, version.commit) == (label, commit)


def test_version_of_is_none_for_a_trigger_naming_nothing() -> None:
    assert version_of({"trigger": {"type": "manual", "user": "alice"}}) is None


def started_by_pipeline(parent: dict[str, Any], *, depth: int = 1, **trigger: Any) -> dict[str, Any]:
    """The run `depth` pipeline triggers down from `parent`, each nesting the one that started it under
    `trigger.parentExecution` as Orca does; `trigger` adds fields to each of their triggers."""
    run = parent
    for level in range(depth):
        run = {"id": f"01CHILDRUN{level:016d}",
               "trigger": {"type": "pipeline", "parentExecution": run, **trigger}}
    return run


@pytest.mark.parametrize(("run", "label"), [
    (started_by_pipeline({"trigger": git_trigger(NEW_SHA)}), NEW_SHA[:12]),
    (started_by_pipeline({"trigger": git_trigger(NEW_SHA)}, depth=5), NEW_SHA[:12]),
    (started_by_pipeline({"trigger": {"type": "docker", "repository": "acme/shop", "digest": "sha256:ab12"}},
                         depth=2), "acme/shop@sha256:ab12"),
    (started_by_pipeline({"trigger": {"type": "jenkins", "job": "app-build", "buildNumber": 7,
                                      "buildInfo": {"number": 7, "scm": [{"sha1": OLD_SHA}]}}}),
     OLD_SHA[:12]),
    (started_by_pipeline({"trigger": {"type": "manual", "artifacts": [
        {"name": "shop.jar", "reference": "s3://b/shop-1.4.2.jar"}]}}), "shop.jar s3://b/shop-1.4.2.jar"),
    # The run's own trigger wins over its parent's, and a nearer parent over a farther one.
    (started_by_pipeline({"trigger": git_trigger(OLD_SHA)},
                         artifacts=[{"name": "shop.jar", "version": "1.4.2"}]), "shop.jar 1.4.2"),
    (started_by_pipeline(started_by_pipeline({"trigger": git_trigger(OLD_SHA)},
                                             tag="2.0.0", repository="acme/x")), "acme/x:2.0.0"),
    # The event shape keeps a pipeline trigger's fields under `other`.
    ({"trigger": {"type": "pipeline", "other": {"parentExecution": {"trigger": git_trigger(NEW_SHA)}}}},
     NEW_SHA[:12]),
])
def test_version_of_reads_the_parent_runs_trigger_when_the_run_names_none(run: dict, label: str) -> None:
    version = version_of(run)
    assert version is not None and version.label == label


@pytest.mark.parametrize("run", [
    started_by_pipeline({"trigger": git_trigger(NEW_SHA)}, depth=6),  # past MAX_PARENTS runs up
    started_by_pipeline({"trigger": {"type": "cron"}}, depth=2),
    {"trigger": {"type": "pipeline", "parentExecution": "01PARENTRUN"}},
    {"trigger": {"type": "pipeline", "parentExecution": {"trigger": None}}},
])
def test_version_of_is_none_when_no_run_up_the_chain_names_one(run: dict) -> None:
    assert version_of(run) is None


def test_version_of_stops_on_a_parent_loop() -> None:
    run: dict[str, Any] = {"trigger": {"type": "pipeline"}}
    run["trigger"]["parentExecution"] = run
    assert version_of(run) is None


def test_version_of_the_real_pipeline_triggered_runs_is_none_their_root_run_is_cron() -> None:
    """Orca's pipelinetrigger.json: two parent runs up, the first run was started by cron, naming nothing."""
    run = events.payload("orca_execution_with_manualJudgment_in_parent.json")
    assert [version_of(r) for r in (run, run["trigger"]["parentExecution"])] == [None, None]
    run["trigger"]["parentExecution"]["trigger"]["parentExecution"]["trigger"] = git_trigger(NEW_SHA)
    assert version_of(run) == Version(label=NEW_SHA[:12], commit=NEW_SHA, source="github", project="acme",
                                      slug="shop")


@pytest.mark.parametrize(("source", "url"), [
    ("github", f"https://github.com/acme/shop/compare/{OLD_SHA}...{NEW_SHA}"),
    ("gitlab", f"https://gitlab.com/acme/shop/-/compare/{OLD_SHA}...{NEW_SHA}"),
    ("bitbucket", f"https://bitbucket.org/acme/shop/branches/compare/{NEW_SHA}%0D{OLD_SHA}"),
])
def test_compare_url_links_two_commits_of_one_repository(source: str, url: str) -> None:
    before, after = version_of({"trigger": git_trigger(OLD_SHA, source)}), version_of(
        {"trigger": git_trigger(NEW_SHA, source)})
    assert compare_url(before, after) == url
    assert f"<{url}|compare>" in change_line(after, before=before)


@pytest.mark.parametrize(("before", "after"), [
    (Version("1.0", OLD_SHA, "github", "acme", "shop"), Version("2.0", NEW_SHA, "github", "acme", "other")),
    (Version("1.0", OLD_SHA, "github", "acme", "shop"), Version("1.0", OLD_SHA, "github", "acme", "shop")),
    (Version("1.0", OLD_SHA, "gitea", "acme", "shop"), Version("2.0", NEW_SHA, "gitea", "acme", "shop")),
    (Version("1.0", OLD_SHA, "stash", "ACME", "shop"), Version("2.0", NEW_SHA, "stash", "ACME", "shop")),
    (Version("acme/shop:1.0"), Version("2.0", NEW_SHA, "github", "acme", "shop")),
])
def test_compare_url_is_none_unless_both_sides_are_commits_of_one_known_repository(
        before: Version, after: Version) -> None:
    assert compare_url(before, after) is None


@pytest.mark.parametrize(("line", "says"), [
    (change_line(Version("2.0"), first=True), "*Change* from _first deploy_ → to `2.0`"),
    (change_line(None), "*Change* from _unknown_ → to _unknown_"),
    (change_line(Version("2.0"), previous_url="https://deck/r"),
     "*Change* from <https://deck/r|previous run, version unknown> → to `2.0`"),
    (change_line(Version("2.0"), before=Version("1.0")), "*Change* from `1.0` → to `2.0`"),
])
def test_change_line_names_both_sides_never_none(line: str, says: str) -> None:
    assert line == says


def test_previous_success_is_the_latest_earlier_success_of_the_same_pipeline() -> None:
    current = current_run()
    runs = [previous_run(run_id="01OLDEST", started=STARTED_MS - 9_000),
            previous_run(run_id="01LATEST", started=STARTED_MS - 1_000),
            previous_run(run_id="01LATER", started=STARTED_MS + 1_000),
            previous_run(run_id="01OTHERPIPE", started=STARTED_MS - 500) | {"pipelineConfigId": "other"},
            current]
    assert previous_success(runs, current)["id"] == "01LATEST"


def change_of(message: Any) -> str:
    return next((line for line in text_of(message).splitlines() if line.startswith("*Change*")), "")


def test_judgment_change_shows_previous_run_and_compare_link(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        message = world.start_judgment(current_run())
        change = change_of(message)
        assert f"→ to `{NEW_SHA[:12]}`" in change
        assert f"|{OLD_SHA[:12]}>" in change and "01PREVIOUSRUN000000000000A" in change
        assert f"<https://github.com/acme/shop/compare/{OLD_SHA}...{NEW_SHA}|compare>" in change
        assert buttons(message) == ALL_BUTTONS
        (lookup,) = world.gate.calls_to("latest_executions")
        assert lookup.query == {"pipelineConfigIds": CONFIG_ID, "statuses": "SUCCEEDED", "limit": "5",
                                "expand": "false"}


def test_judgment_change_is_looked_up_after_the_message_is_posted(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        run = current_run()
        world.gate.add_execution(run)
        assert world.echo(events.stage_event("starting", run, stage_id=STAGE_ID)).status_code == 202
        assert world.gate.calls == []  # the webhook never waits for Gate
        world.drain()
        (post,) = [c for c in world.slack.calls if c.method == "chat.postMessage"
                   and "Judgment needed" in str(c.params.get("text", "")) + str(c.params.get("blocks", ""))]
        assert "*Change*" not in str(post.params.get("blocks"))
        assert world.gate.calls_to("latest_executions") and change_of(world.judgment_message())


def test_judgment_change_says_first_deploy_without_a_previous_success(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run(status="TERMINAL"))
        message = world.start_judgment(current_run())
        assert change_of(message) == f"*Change* from _first deploy_ → to `{NEW_SHA[:12]}`"


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 403}, {"status": None, "delay": 1.0}],
                         ids=["error", "forbidden", "slow"])
def test_judgment_change_failed_lookup_leaves_the_judgment_message(tmp_path: Path, fault: dict) -> None:
    with judgment_world(tmp_path, gate_timeout=0.2) as world:
        world.gate.add_execution(previous_run())
        world.gate.fail_next("latest_executions", **fault)
        message = world.start_judgment(current_run())
        assert change_of(message) == ""
        assert buttons(message) == ALL_BUTTONS
        assert world.store.last_success(CONFIG_ID) is None
        assert world.click(message, "judgment.choose.0", user=APPROVER).status_code == 200
        world.drain()
        assert world.judgments()[-1].status == "decided"


def test_judgment_change_reads_gate_once_for_every_message_of_a_run(tmp_path: Path) -> None:
    second = "#releases"
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        run = current_run()
        stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
        stage["context"]["notifications"].append(
            {"type": "slack", "address": second, "when": ["manualJudgment"], "level": "stage"})
        first = world.start_judgment(run)
        assert change_of(first) and change_of(world.judgment_message(second)) == change_of(first)
        assert len(world.gate.calls_to("latest_executions")) == 1


def test_judgment_change_looks_again_for_a_run_started_after_the_answer(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        world.start_judgment(current_run())
        world.gate.add_execution(previous_run(NEW_SHA, run_id=events.execution()["id"], started=STARTED_MS))
        world.clock.advance(3600)
        later_start = int(world.clock() * 1000)
        later = current_run("b" * 40, id="01LATERRUN0000000000000000", startTime=later_start)
        world.gate.add_execution(later)
        assert world.echo(events.stage_event("starting", later, stage_id=STAGE_ID)).status_code == 202
        world.drain()
        assert len(world.gate.calls_to("latest_executions")) == 2
        ref = world.store.message(f"{later['id']}/{STAGE_ID}@{JUDGMENT_CHANNEL}")
        message = world.slack.message(ref.channel, ref.ts)
        assert f"|{NEW_SHA[:12]}> → to `{'b' * 12}`" in change_of(message)


def test_judgment_change_never_rewrites_a_stage_judged_meanwhile(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        world.gate.add_execution(previous_run())
        run = current_run()
        world.gate.add_execution(run)
        assert world.echo(events.stage_event("starting", run, stage_id=STAGE_ID)).status_code == 202
        world.services.dispatcher(run_job=None).run_once()  # the message goes out; its lookup waits
        world.gate.judge(run["id"], STAGE_ID, "continue", user="deck-user@example.com")
        world.slack.clear_calls()
        world.drain()
        assert world.slack.calls_to("chat.update") == []
        assert world.gate.calls_to("latest_executions") == []


def test_judgment_change_job_is_queued_only_for_awaiting_messages(tmp_path: Path) -> None:
    with judgment_world(tmp_path) as world:
        run = current_run()
        world.gate.add_execution(run)
        assert world.echo(events.pipeline_event("starting", run)).status_code == 202
        world.drain()
        assert world.gate.calls == []
