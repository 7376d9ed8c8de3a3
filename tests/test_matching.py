"""Tests for relay/notifications/match.py: Echo's notification rules, Orca's judgment rules, routes."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config import Settings
from relay.models import Route
from relay.notifications.match import decide
from schemas.echo import EVENT_SCHEMA
from tests.events import JUDGMENT_STAGE_ID, execution, payload, pipeline_event, stage_event

SLACK = frozenset({"slack"})
WAIT_STAGE_ID = "01D4NH3V9D832XGZJE5G6R49RK"
UNSET = object()


def pref(*when: str, address: Any = "#deploys", type: Any = "slack", **extra: Any) -> dict:
    """A preference as Deck writes it; `when` is a list unless a test passes a string as a keyword."""
    return {"type": type, "address": address, "level": "pipeline", "when": list(when), **extra}


def run_with(*prefs: dict, **overrides: Any) -> dict:
    return execution(notifications=list(prefs), **overrides)


def pipeline(outcome: str, *prefs: dict, kind: str = "pipeline", **overrides: Any) -> dict:
    """`orca:<kind>:<outcome>` for a run with these preferences; overrides go to the execution."""
    return pipeline_event(outcome, run_with(*prefs, **overrides), kind=kind)


def wait_stage(
    status: str, *prefs: dict, send: Any = True, context: dict | None = None, **content: Any
) -> dict:
    """A stage event for the pipeline's Wait stage with these stage-level preferences."""
    run = run_with()
    stage_context = {"notifications": list(prefs), **(context or {})}
    if send is not UNSET:
        stage_context["sendNotifications"] = send
    run["stages"][0]["context"] = stage_context
    return stage_event(status, run, stage_id=WAIT_STAGE_ID, **content)


def judgment(status: str, *prefs: dict, send: Any = True, verdict: Any = UNSET, **content: Any) -> dict:
    """A stage event for the pipeline's Manual Judgment stage with these preferences; a failed stage was
    judged to stop unless `verdict` says otherwise (None: it failed without a judgment, e.g. timed out)."""
    run = run_with()
    context = run["stages"][-1]["context"]
    verdict = ({"complete": "continue", "failed": "stop"}.get(status) if verdict is UNSET else verdict)
    if verdict:
        context["judgmentStatus"] = verdict
    context["notifications"] = list(prefs)
    if send is UNSET:
        context.pop("sendNotifications", None)
    else:
        context["sendNotifications"] = send
    return stage_event(status, run, stage_id=JUDGMENT_STAGE_ID, **content)


def canceled_run(**flags: Any) -> dict:
    return run_with(pref("pipeline.failed"), canceledBy="bob", cancellationReason="wrong build", **flags)


def decided(document: dict, *, types: frozenset[str] = SLACK, routes: tuple[Route, ...] = ()):
    decision = decide(EVENT_SCHEMA.load(document), types=types, routes=routes)
    notified = [(n.address, n.template, n.when) for n in decision.notifications]
    return notified, decision.reason


def igor_build_event() -> dict:
    return payload("echo_events_envelope_igor_build.json")[0]


def gate_manual_trigger_event() -> dict:
    document = pipeline("starting", pref("pipeline.starting"))
    document["details"].update(source="gate", type="manual")
    return document


NOTIFIED_CASES = [
    # Execution kinds: `<kind>.<status>` in the execution's preferences.
    pytest.param(
        pipeline("starting", pref("pipeline.starting")),
        [("#deploys", "pipeline.starting", "pipeline.starting")],
        id="pipeline-starting",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete")),
        [("#deploys", "pipeline.complete", "pipeline.complete")],
        id="pipeline-complete",
    ),
    pytest.param(
        pipeline("failed", pref("pipeline.failed"), status="TERMINAL"),
        [("#deploys", "pipeline.failed", "pipeline.failed")],
        id="pipeline-failed",
    ),
    pytest.param(
        pipeline("complete", pref("orchestration.complete"), kind="orchestration", type="ORCHESTRATION"),
        [("#deploys", "pipeline.complete", "orchestration.complete")],
        id="orchestration-complete",
    ),
    pytest.param(
        pipeline("failed", pref("orchestration.failed"), kind="orchestration", status="TERMINAL"),
        [("#deploys", "pipeline.failed", "orchestration.failed")],
        id="orchestration-failed",
    ),
    # `when` as a string is matched as a substring, exactly like Echo.
    pytest.param(
        pipeline("starting", pref(when="pipeline.starting,pipeline.failed")),
        [("#deploys", "pipeline.starting", "pipeline.starting")],
        id="when-string-substring",
    ),
    pytest.param(
        pipeline("failed", pref(when="[pipeline.failed]"), status="TERMINAL"),
        [("#deploys", "pipeline.failed", "pipeline.failed")],
        id="when-string-inside-other-text",
    ),
    # Canceled runs: Echo drops them; the relay reports them to `<kind>.failed` preferences as canceled.
    pytest.param(
        pipeline_event("failed", canceled_run(status="CANCELED", canceled=True)),
        [("#deploys", "pipeline.canceled", "pipeline.failed")],
        id="canceled-run-reported-as-canceled",
    ),
    pytest.param(
        pipeline_event("failed", canceled_run(status="CANCELED", canceled=False)),
        [("#deploys", "pipeline.canceled", "pipeline.failed")],
        id="canceled-by-status-only",
    ),
    pytest.param(
        pipeline_event("failed", canceled_run(status="TERMINAL", canceled=True)),
        [("#deploys", "pipeline.canceled", "pipeline.failed")],
        id="canceled-by-flag-only",
    ),
    pytest.param(
        pipeline_event("failed", canceled_run(status="TERMINAL", canceled="true")),
        [("#deploys", "pipeline.canceled", "pipeline.failed")],
        id="canceled-by-string-flag",
    ),
    pytest.param(
        pipeline_event(
            "failed",
            run_with(pref("orchestration.failed"), status="CANCELED", canceled=True, type="ORCHESTRATION"),
            kind="orchestration",
        ),
        [("#deploys", "pipeline.canceled", "orchestration.failed")],
        id="canceled-orchestration",
    ),
    # One message per address, whatever number of preferences name it.
    pytest.param(
        pipeline(
            "complete",
            pref("pipeline.complete"),
            pref("pipeline.complete", "pipeline.failed"),
            pref("pipeline.complete", address="#other"),
        ),
        [
            ("#deploys", "pipeline.complete", "pipeline.complete"),
            ("#other", "pipeline.complete", "pipeline.complete"),
        ],
        id="dedup-per-address",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address="  #deploys "), pref("pipeline.complete")),
        [("#deploys", "pipeline.complete", "pipeline.complete")],
        id="dedup-ignores-surrounding-space",
    ),
    # Stage preferences only with sendNotifications (a boolean, or a string as older pipeline JSON has it).
    pytest.param(
        wait_stage("starting", pref("stage.starting")),
        [("#deploys", "stage.starting", "stage.starting")],
        id="stage-starting",
    ),
    pytest.param(
        wait_stage("complete", pref("stage.complete")),
        [("#deploys", "stage.complete", "stage.complete")],
        id="stage-complete",
    ),
    pytest.param(
        wait_stage("failed", pref("stage.failed")),
        [("#deploys", "stage.failed", "stage.failed")],
        id="stage-failed",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send="true"),
        [("#deploys", "stage.starting", "stage.starting")],
        id="stage-send-notifications-string-true",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send="TRUE"),
        [("#deploys", "stage.starting", "stage.starting")],
        id="stage-send-notifications-any-case",
    ),
    pytest.param(
        wait_stage(
            "starting",
            pref("stage.starting"),
            isSynthetic=False,
            context={"stageDetails": {"isSynthetic": False}},
        ),
        [("#deploys", "stage.starting", "stage.starting")],
        id="stage-explicitly-not-synthetic",
    ),
    # Manual Judgment: Orca's whens fire on the stage's starting, complete and failed events.
    pytest.param(
        judgment("starting", pref("manualJudgment")),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="judgment-awaiting",
    ),
    pytest.param(
        judgment("complete", pref("manualJudgmentContinue")),
        [("#deploys", "judgment.continued", "manualJudgmentContinue")],
        id="judgment-continued",
    ),
    pytest.param(
        judgment("failed", pref("manualJudgmentStop")),
        [("#deploys", "judgment.stopped", "manualJudgmentStop")],
        id="judgment-stopped",
    ),
    pytest.param(
        judgment("starting", pref(when="manualJudgment")),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="judgment-when-string",
    ),
    pytest.param(
        judgment("starting", pref()),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="judgment-empty-when-awaiting",
    ),
    pytest.param(
        judgment("complete", pref()),
        [("#deploys", "judgment.continued", "manualJudgmentContinue")],
        id="judgment-empty-when-continued",
    ),
    pytest.param(
        judgment("failed", pref()),
        [("#deploys", "judgment.stopped", "manualJudgmentStop")],
        id="judgment-empty-when-stopped",
    ),
    pytest.param(
        judgment("failed", pref("manualJudgmentStop", "stage.failed"), verdict=None),
        [("#deploys", "stage.failed", "stage.failed")],
        id="judgment-timed-out-is-a-stage-failure",
    ),
    pytest.param(
        judgment("complete", {"type": "slack", "address": "#deploys"}),
        [("#deploys", "judgment.continued", "manualJudgmentContinue")],
        id="judgment-missing-when",
    ),
    pytest.param(
        judgment("starting", pref("stage.starting")),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="judgment-stage-when-gets-judgment-message",
    ),
    pytest.param(
        judgment("starting", pref("manualJudgment"), pref("stage.starting"), pref()),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="judgment-dedup-per-address",
    ),
    # A legacy Manual Judgment stage (no sendNotifications) gets the awaiting message only, as Orca sends it.
    pytest.param(
        judgment("starting", pref("manualJudgment"), send=UNSET),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="legacy-judgment-awaiting",
    ),
    pytest.param(
        judgment("starting", pref(), send=False),
        [("#deploys", "judgment.awaiting", "manualJudgment")],
        id="legacy-judgment-send-false-awaiting",
    ),
]

IGNORED_CASES = [
    pytest.param(igor_build_event(), "not an Orca", id="igor-build-event"),
    pytest.param(gate_manual_trigger_event(), "not an Orca", id="gate-manual-trigger-event"),
    pytest.param(
        {
            **pipeline("starting", pref("pipeline.starting")),
            "details": {"source": "orca", "type": "orca:widget:starting", "application": "compute"},
        },
        "unknown event kind",
        id="unknown-kind",
    ),
    pytest.param(pipeline("paused", pref(when="pipeline.paused")), "unknown status", id="unknown-status"),
    pytest.param(
        stage_event("starting", run_with(pref("pipeline.starting"), type="ORCHESTRATION"), kind="task"),
        "task events never notify",
        id="standalone-task-event",
    ),
    pytest.param(
        judgment("starting", pref("manualJudgment"), kind="task"),
        "task events never notify",
        id="judgment-task-event",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.starting", "pipeline.failed")),
        "no notification preference",
        id="when-list-without-status",
    ),
    pytest.param(
        pipeline("complete", pref(when="pipeline")),
        "no notification preference",
        id="when-string-shorter-than-status",
    ),
    pytest.param(
        pipeline("complete", pref("orchestration.complete")),
        "no notification preference",
        id="orchestration-when-on-pipeline",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete"), kind="orchestration"),
        "no notification preference",
        id="pipeline-when-on-orchestration",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", type="Slack")),
        "no notification preference",
        id="type-is-case-sensitive",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", type="email")),
        "no notification preference",
        id="other-type",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", type=None)),
        "no notification preference",
        id="missing-type",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", type=["slack"])),
        "no notification preference",
        id="type-not-a-string",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address=None)),
        "no notification preference",
        id="missing-address",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address="  ")),
        "no notification preference",
        id="blank-address",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address=["#deploys"])),
        "no notification preference",
        id="address-not-a-string",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address="#" + "d" * 300)),
        "no notification preference",
        id="address-too-long-for-a-channel",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", address="#dep\nloys")),
        "no notification preference",
        id="address-with-a-control-character",
    ),
    pytest.param(
        pipeline("complete", pref("pipeline.complete", when={"pipeline.complete": True})),
        "no notification preference",
        id="when-not-list-or-string",
    ),
    pytest.param(
        pipeline("complete", "not a preference", pref("pipeline.complete", type="email")),
        "no notification preference",
        id="preference-not-an-object",
    ),
    pytest.param(
        pipeline_event("complete", execution(notifications="#deploys")),
        "no notification preference",
        id="notifications-not-a-list",
    ),
    pytest.param(
        pipeline_event("complete", canceled_run(status="CANCELED", canceled=True)),
        "canceled",
        id="canceled-run-complete-event",
    ),
    pytest.param(
        pipeline_event("failed", run_with(pref("pipeline.complete"), status="CANCELED", canceled=True)),
        "no notification preference",
        id="canceled-run-without-failed-preference",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send=False),
        "sendNotifications",
        id="stage-send-notifications-false",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send="false"),
        "sendNotifications",
        id="stage-send-notifications-string-false",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send=UNSET),
        "sendNotifications",
        id="stage-send-notifications-missing",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), send="yes"),
        "sendNotifications",
        id="stage-send-notifications-not-a-boolean",
    ),
    pytest.param(
        wait_stage("complete", pref("stage.starting")), "sendNotifications", id="stage-when-without-status"
    ),
    pytest.param(
        wait_stage("starting", pref("pipeline.starting")), "sendNotifications", id="pipeline-when-on-stage"
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), isSynthetic=True), "synthetic", id="synthetic-stage"
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), isSynthetic="true"),
        "synthetic",
        id="synthetic-stage-string",
    ),
    pytest.param(
        wait_stage("starting", pref("stage.starting"), context={"stageDetails": {"isSynthetic": True}}),
        "synthetic",
        id="legacy-synthetic-stage-details",
    ),
    pytest.param(
        wait_stage("failed", pref("stage.failed"), canceled=True), "canceled run", id="stage-of-canceled-run"
    ),
    pytest.param(
        wait_stage("failed", pref("stage.failed"), canceled="true"),
        "canceled run",
        id="stage-of-canceled-run-string-flag",
    ),
    pytest.param(
        judgment("failed", pref("manualJudgmentStop"), canceled=True),
        "canceled run",
        id="judgment-of-canceled-run",
    ),
    pytest.param(
        judgment("starting", pref("manualJudgment"), isSynthetic=True), "synthetic", id="synthetic-judgment"
    ),
    pytest.param(
        judgment("complete", pref("manualJudgment")),
        "no notification preference",
        id="judgment-awaiting-when-on-complete",
    ),
    pytest.param(
        judgment("failed", pref("manualJudgmentContinue")),
        "no notification preference",
        id="judgment-continue-when-on-failed",
    ),
    pytest.param(
        judgment("starting", pref("manualJudgmentContinue", "manualJudgmentStop")),
        "no notification preference",
        id="judgment-when-without-awaiting",
    ),
    pytest.param(
        judgment("complete", pref("manualJudgmentContinue"), send=UNSET),
        "no notification preference",
        id="legacy-judgment-no-continued",
    ),
    pytest.param(
        judgment("failed", pref(), send=UNSET), "no notification preference", id="legacy-judgment-no-stopped"
    ),
    pytest.param(
        judgment("failed", pref("manualJudgmentStop"), verdict=None), "no stage notification preference",
        id="judgment-timed-out-judged-by-nobody",
    ),
    pytest.param(
        judgment("complete", pref(), send=False),
        "no notification preference",
        id="judgment-send-false-no-continued",
    ),
    pytest.param(
        wait_stage("starting", pref("manualJudgment")),
        "no stage notification preference",
        id="judgment-when-on-other-stage",
    ),
]


@pytest.mark.parametrize(("document", "expected"), NOTIFIED_CASES)
def test_matching_notifies(document: dict, expected: list[tuple[str, str, str]]) -> None:
    notified, reason = decided(document)
    assert notified == expected
    assert reason is None


@pytest.mark.parametrize(("document", "reason_part"), IGNORED_CASES)
def test_matching_ignores(document: dict, reason_part: str) -> None:
    notified, reason = decided(document)
    assert notified == []
    assert reason_part in reason


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        pytest.param(frozenset({"slack"}), ["#slack"], id="default-slack"),
        pytest.param(frozenset({"slackops"}), ["#slackops"], id="custom-type-only"),
        pytest.param(frozenset({"slack", "slackops"}), ["#slack", "#slackops"], id="several-types"),
        pytest.param(frozenset({"SLACK"}), [], id="configured-type-is-case-sensitive"),
    ],
)
def test_matching_honours_notification_types(types: frozenset[str], expected: list[str]) -> None:
    document = pipeline(
        "complete",
        pref("pipeline.complete", address="#slack"),
        pref("pipeline.complete", address="#slackops", type="slackops"),
        pref("pipeline.complete", address="#email", type="email"),
    )
    notified, _ = decided(document, types=types)
    assert [address for address, _, _ in notified] == expected


def route(*when: str, application: str = "*", pipeline: str = "*", channel: str = "#routed") -> Route:
    return Route(application=application, pipeline=pipeline, when=when, channel=channel)


@pytest.mark.parametrize(
    ("document", "routes", "expected"),
    [
        pytest.param(
            pipeline("failed", status="TERMINAL"),
            (route("pipeline.failed"),),
            [("#routed", "pipeline.failed", "pipeline.failed")],
            id="route-without-preferences",
        ),
        pytest.param(
            pipeline("failed", status="TERMINAL"),
            (route("pipeline.failed", application="comp*"),),
            [("#routed", "pipeline.failed", "pipeline.failed")],
            id="application-glob",
        ),
        pytest.param(
            pipeline("failed", status="TERMINAL"),
            (route("pipeline.failed", application="payments*"),),
            [],
            id="application-glob-misses",
        ),
        pytest.param(
            pipeline("failed", status="TERMINAL"),
            (route("pipeline.failed", application="compute", pipeline="Simple*Pipeline"),),
            [("#routed", "pipeline.failed", "pipeline.failed")],
            id="pipeline-glob",
        ),
        pytest.param(
            pipeline("failed", status="TERMINAL"),
            (route("pipeline.failed", pipeline="simple*"),),
            [],
            id="pipeline-glob-is-case-sensitive",
        ),
        pytest.param(pipeline("complete"), (route("pipeline.failed"),), [], id="route-when-misses"),
        pytest.param(
            pipeline_event("failed", canceled_run(status="CANCELED", canceled=True)),
            (route("pipeline.failed"),),
            [
                ("#deploys", "pipeline.canceled", "pipeline.failed"),
                ("#routed", "pipeline.canceled", "pipeline.failed"),
            ],
            id="route-gets-canceled-runs",
        ),
        pytest.param(
            pipeline("complete", pref("pipeline.complete")),
            (route("pipeline.complete", channel="#deploys"),),
            [("#deploys", "pipeline.complete", "pipeline.complete")],
            id="route-and-preference-dedup",
        ),
        pytest.param(
            pipeline("complete"),
            (route("pipeline.complete"), route("pipeline.complete", channel="#other")),
            [
                ("#routed", "pipeline.complete", "pipeline.complete"),
                ("#other", "pipeline.complete", "pipeline.complete"),
            ],
            id="several-routes",
        ),
        pytest.param(
            wait_stage("failed", send=UNSET),
            (route("stage.failed"),),
            [("#routed", "stage.failed", "stage.failed")],
            id="stage-route-needs-no-send-notifications",
        ),
        pytest.param(
            wait_stage("failed", isSynthetic=True),
            (route("stage.failed"),),
            [],
            id="stage-route-skips-synthetic",
        ),
        pytest.param(
            wait_stage("failed", canceled=True),
            (route("stage.failed"),),
            [],
            id="stage-route-skips-canceled-runs",
        ),
        pytest.param(
            judgment("starting", send=UNSET),
            (route("manualJudgment"),),
            [("#routed", "judgment.awaiting", "manualJudgment")],
            id="judgment-route-awaiting",
        ),
        pytest.param(
            judgment("complete", send=UNSET),
            (route("manualJudgmentContinue"),),
            [("#routed", "judgment.continued", "manualJudgmentContinue")],
            id="judgment-route-continued",
        ),
        pytest.param(judgment("failed"), (route("manualJudgment"),), [], id="judgment-route-when-misses"),
        pytest.param(
            wait_stage("starting"), (route("manualJudgment"),), [], id="judgment-route-on-other-stage"
        ),
    ],
)
def test_matching_applies_routes(
    document: dict, routes: tuple[Route, ...], expected: list[tuple[str, str, str]]
) -> None:
    notified, _ = decided(document, routes=routes)
    assert notified == expected


def test_matching_routes_use_a_handled_notification_type() -> None:
    decision = decide(
        EVENT_SCHEMA.load(pipeline("complete")),
        types=frozenset({"slackops"}),
        routes=(route("pipeline.complete"),),
    )
    assert [n.preference["type"] for n in decision.notifications] == ["slackops"]


def test_matching_keeps_the_preference_for_rendering() -> None:
    preference = pref("pipeline.complete", message={"pipeline.complete": {"text": "shipped"}})
    decision = decide(EVENT_SCHEMA.load(pipeline("complete", preference)), types=SLACK)
    (notification,) = decision.notifications
    assert notification.preference == preference
    assert notification.event.execution_id == "01D4NH3V9D1RK8GX4036M8BAXV"


def test_matching_recognises_judgment_stage_without_full_execution() -> None:
    document = judgment("starting", pref("manualJudgment"), taskName="manualJudgment.waitForJudgment")
    del document["content"]["execution"]
    notified, _ = decided(document)
    assert notified == [("#deploys", "judgment.awaiting", "manualJudgment")]


def test_matching_survives_wrong_types_in_routes_input() -> None:
    document = pipeline("failed", status="TERMINAL", name=["not", "a", "name"])
    document["details"]["application"] = None
    document["content"]["execution"]["application"] = {"not": "a name"}
    notified, _ = decided(document, routes=(route("pipeline.failed"),))
    assert notified == [("#routed", "pipeline.failed", "pipeline.failed")]


def test_matching_routes_from_the_yaml_file(tmp_path) -> None:
    rules = tmp_path / "relay.yml"
    rules.write_text("""
routes:
  - application: "comp*"
    pipeline: "Simple*"
    when: [pipeline.failed, manualJudgment]
    channel: "#compute-deploys"
  - application: "payments*"
    when: [pipeline.failed]
    channel: "#payments-deploys"
""")
    settings = Settings.from_env({"RELAY_CONFIG": str(rules)})
    failed, _ = decided(pipeline("failed", status="TERMINAL"), routes=settings.rules.routes)
    awaiting, _ = decided(judgment("starting", send=UNSET), routes=settings.rules.routes)
    assert failed == [("#compute-deploys", "pipeline.failed", "pipeline.failed")]
    assert awaiting == [("#compute-deploys", "judgment.awaiting", "manualJudgment")]


def echo_spec_event(event_type: str, status: str, notify_when: str | None, **extra: Any) -> dict:
    """Echo's AbstractEventNotificationAgentSpec.fakePipelineEvent: `when` is a string (a GString there)."""
    notifications = [{"type": "slack", "address": "#deploys", "when": notify_when}] if notify_when else []
    run = {
        "id": "01D4NH3V9D1RK8GX4036M8BAXV",
        "name": "foo-pipeline",
        "status": status,
        "notifications": notifications,
        **extra,
    }
    return {"details": {"type": event_type, "application": "foo"}, "content": {"execution": run}}


# The rows of Echo's AbstractEventNotificationAgentSpec ("sends notifications based on status and
# configuration"), with the relay's count. The two canceled rows differ on purpose: Echo drops canceled runs,
# the relay tells preferences that asked for `pipeline.failed` (see relay/notifications/match.py).
@pytest.mark.parametrize(
    ("document", "echo_count", "relay_count"),
    [
        pytest.param(
            echo_spec_event("whatever:pipeline:complete", "SUCCEEDED", "pipeline.complete"),
            0,
            0,
            id="unknown-source",
        ),
        pytest.param(
            echo_spec_event("orca:whatever:whatever", "SUCCEEDED", "pipeline.complete"),
            0,
            0,
            id="unknown-sub-type",
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:complete", "SUCCEEDED", None), 0, 0, id="notifications-off"
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:complete", "SUCCEEDED", "pipeline.complete"),
            1,
            1,
            id="succeeded-matching",
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:complete", "SUCCEEDED", "pipeline.failed"),
            0,
            0,
            id="succeeded-not-matching",
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:failed", "TERMINAL", "pipeline.failed"), 1, 1, id="failed-matching"
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:failed", "TERMINAL", "pipeline.complete"),
            0,
            0,
            id="failed-not-matching",
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:failed", "CANCELED", "pipeline.failed"),
            0,
            1,
            id="canceled-status-deliberately-reported",
        ),
        pytest.param(
            echo_spec_event("orca:pipeline:failed", "WHATEVER", "pipeline.failed", canceled=True),
            0,
            1,
            id="canceled-flag-deliberately-reported",
        ),
    ],
)
def test_matching_follows_echo_agent_spec(document: dict, echo_count: int, relay_count: int) -> None:
    notified, _ = decided(document)
    assert len(notified) == relay_count
    if relay_count != echo_count:
        assert [template for _, template, _ in notified] == ["pipeline.canceled"]


# The rows of Orca's ManualJudgmentStageSpec ("if deprecated notification configuration is in use, only send
# notifications for awaiting judgment state"), plus `sendNotifications` values Groovy truth reads its way.
@pytest.mark.parametrize(
    ("send", "state", "status", "sent"),
    [
        (True, "manualJudgment", "starting", True),
        (False, "manualJudgment", "starting", True),
        (True, "manualJudgmentContinue", "complete", True),
        (False, "manualJudgmentContinue", "complete", False),
        (True, "manualJudgmentStop", "failed", True),
        (False, "manualJudgmentStop", "failed", False),
        ("false", "manualJudgmentContinue", "complete", True),  # a non-empty string is Groovy-true
        ("", "manualJudgmentStop", "failed", False),
        (1, "manualJudgmentContinue", "complete", True),
        (0, "manualJudgmentContinue", "complete", False),
        (UNSET, "manualJudgmentContinue", "complete", False),
        (UNSET, "manualJudgment", "starting", True),
    ],
)
def test_matching_follows_orca_manual_judgment_spec(send: Any, state: str, status: str, sent: bool) -> None:
    notified, _ = decided(judgment(status, pref(state), send=send))
    assert notified == ([("#deploys", JUDGMENT_TEMPLATE[state], state)] if sent else [])


JUDGMENT_TEMPLATE = {
    "manualJudgment": "judgment.awaiting",
    "manualJudgmentContinue": "judgment.continued",
    "manualJudgmentStop": "judgment.stopped",
}


@pytest.mark.parametrize(
    ("send", "sent"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        (" true", False),
        ("false", False),
        ("yes", False),
        (1, False),
        (False, False),
        (UNSET, False),
    ],
)
def test_matching_stage_send_notifications_is_java_parse_boolean(send: Any, sent: bool) -> None:
    notified, _ = decided(wait_stage("starting", pref("stage.starting"), send=send))
    assert bool(notified) is sent


@pytest.mark.parametrize(
    ("content_flag", "details_flag", "notifies"),
    [
        (True, False, True),  # the legacy stageDetails flag, read last by Echo, decides
        (False, True, False),
        (True, None, False),
        ("true", None, False),
        (None, None, True),
    ],
)
def test_matching_stage_details_synthetic_flag_takes_precedence(
    content_flag: Any, details_flag: Any, notifies: bool
) -> None:
    context = {"stageDetails": {"isSynthetic": details_flag}} if details_flag is not None else {}
    notified, _ = decided(
        wait_stage("starting", pref("stage.starting"), isSynthetic=content_flag, context=context)
    )
    assert bool(notified) is notifies
