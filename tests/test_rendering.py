"""Tests for relay/notifications/render.py and schemas/messages.py: what messages say, escaping, limits."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from relay.notifications.match import decide
from relay.notifications.render import render, render_run_summary
from schemas.config import WHEN_VALUES
from schemas.echo import EVENT_SCHEMA
from tests.events import JUDGMENT_STAGE_ID, execution, payload, pipeline_event, stage_event

UI = "https://spinnaker.example.com"
RUN_ID = "01D4NH3V9D1RK8GX4036M8BAXV"
RUN_URL = f"{UI}/#/applications/compute/executions/details/{RUN_ID}"
WAIT_STAGE_ID = "01D4NH3V9D832XGZJE5G6R49RK"
STARTED, ENDED = 1551205789001, 1551205889001  # 1m 40s apart
SLACK_MESSAGE_TEXT_LIMIT = 4000


def everything(**extra: Any) -> dict:
    return {"type": "slack", "address": "#deploys", "when": list(WHEN_VALUES), **extra}


def run(status: str = "RUNNING", *, preference: dict | None = None, **overrides: Any) -> dict:
    """The Gate fixture execution, every preference on, its Wait stage notifying too."""
    preference = preference or everything()
    result = execution(notifications=[preference], status=status, **overrides)
    wait = result["stages"][0]
    wait["context"] = {"sendNotifications": True, "notifications": [copy.deepcopy(preference)]}
    result["stages"][-1]["context"]["notifications"] = [copy.deepcopy(preference)]
    result["stages"][-1]["startTime"] = 1551205790000  # a fixed start, so a fixed deadline
    return result


def finished(status: str, **overrides: Any) -> dict:
    result = run(status, endTime=ENDED, **overrides)
    result["stages"][0].update(status=status, startTime=STARTED, endTime=ENDED)
    return result


def failed_run(error: str = "Timed out waiting for the load balancer") -> dict:
    result = finished("TERMINAL")
    result["stages"][0]["context"]["exception"] = {"details": {"errors": [error]}}
    return result


def judged(status: str, decision: str, **context: Any) -> dict:
    result = run()
    stage = result["stages"][-1]
    stage.update(status=status, endTime=1551205790000 + 3_723_000)
    stage["context"].update({"judgmentStatus": decision, "lastModifiedBy": "carol@example.com", **context})
    return result


def judgment_event(outcome: str, execution_: dict) -> dict:
    return stage_event(outcome, execution_, stage_id=JUDGMENT_STAGE_ID)


def wait_event(outcome: str, execution_: dict) -> dict:
    return stage_event(
        outcome, execution_, stage_id=WAIT_STAGE_ID, endTime=ENDED if outcome != "starting" else None
    )


def messages(document: dict) -> list[dict]:
    decision = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"}))
    return [render(notification, UI) for notification in decision.notifications]


def message(document: dict) -> dict:
    (body,) = messages(document)
    return body


def texts(value: Any) -> list[str]:
    """Every text and URL a message shows, in block order."""
    if isinstance(value, dict):
        found = [value[key] for key in ("text", "url") if isinstance(value.get(key), str)]
        return found + [
            text
            for key, item in value.items()
            if key not in ("text", "url") or not isinstance(item, str)
            for text in texts(item)
        ]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    return []


def mrkdwn(value: Any) -> list[str]:
    """The texts Slack parses for mentions and links: mrkdwn objects (plain_text is shown as is)."""
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [text for item in value.values() for text in mrkdwn(item)]
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn(item)]
    return []


def shown(body: dict) -> str:
    return "\n".join(texts(body["blocks"]))


def fields(body: dict) -> dict[str, str]:
    """The facts section as {label: value}."""
    section = next(block for block in body["blocks"] if block.get("fields"))
    return dict(field["text"].removeprefix("*").split("*\n", 1) for field in section["fields"])


def assert_valid_block_kit(body: dict) -> None:
    """What Slack accepts: a fallback text, at most 50 blocks, each within slack_sdk's checked limits."""
    assert isinstance(body["text"], str) and body["text"].strip()
    assert len(body["text"]) <= SLACK_MESSAGE_TEXT_LIMIT
    assert 1 <= len(body["blocks"]) <= 50
    for block in body["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block  # to_dict() raises SlackObjectFormationError past a limit
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000  # the one limit slack_sdk does not check


TEMPLATE_CASES = [
    pytest.param(
        pipeline_event("starting", run()),
        "pipeline.starting",
        ["compute", "Simple Wait Pipeline", "RUNNING", "alice@example.com (manual)", RUN_URL],
        id="pipeline-starting",
    ),
    pytest.param(
        pipeline_event("complete", finished("SUCCEEDED")),
        "pipeline.complete",
        ["compute", "Simple Wait Pipeline", "SUCCEEDED", "alice@example.com (manual)", "1m 40s", RUN_URL],
        id="pipeline-complete",
    ),
    pytest.param(
        pipeline_event("failed", failed_run()),
        "pipeline.failed",
        [
            "compute",
            "Simple Wait Pipeline",
            "TERMINAL",
            "alice@example.com (manual)",
            "1m 40s",
            RUN_URL,
            f"*Failed stage:* <{RUN_URL}?refId=1|Wait>",
            "*Error:* Timed out waiting for the load balancer",
        ],
        id="pipeline-failed",
    ),
    pytest.param(
        pipeline_event(
            "failed",
            finished(
                "CANCELED", canceled=True, canceledBy="bob@example.com", cancellationReason="wrong build"
            ),
        ),
        "pipeline.canceled",
        [
            "compute",
            "Simple Wait Pipeline",
            "CANCELED",
            "alice@example.com (manual)",
            "1m 40s",
            RUN_URL,
            "*Canceled by* bob@example.com: wrong build",
        ],
        id="pipeline-canceled",
    ),
    pytest.param(
        wait_event("starting", run()),
        "stage.starting",
        [
            "compute",
            "Simple Wait Pipeline",
            "Wait",
            "RUNNING",
            "alice@example.com (manual)",
            f"{RUN_URL}?refId=1",
        ],
        id="stage-starting",
    ),
    pytest.param(
        wait_event("complete", finished("SUCCEEDED")),
        "stage.complete",
        [
            "compute",
            "Simple Wait Pipeline",
            "Wait",
            "SUCCEEDED",
            "alice@example.com (manual)",
            "1m 40s",
            f"{RUN_URL}?refId=1",
        ],
        id="stage-complete",
    ),
    pytest.param(
        wait_event("failed", failed_run()),
        "stage.failed",
        [
            "compute",
            "Simple Wait Pipeline",
            "Wait",
            "TERMINAL",
            "alice@example.com (manual)",
            "1m 40s",
            f"{RUN_URL}?refId=1",
            "*Error:* Timed out waiting for the load balancer",
        ],
        id="stage-failed",
    ),
    pytest.param(
        judgment_event("starting", run()),
        "judgment.awaiting",
        [
            "compute",
            "Simple Wait Pipeline",
            "Proceed Anyway?",
            "waits for a decision",
            "alice@example.com (manual)",
            f"{RUN_URL}?refId=4",
            "Deploy anyway, Roll back",
            "*Instructions*\nThe Tracks Release to PROD Canaries have failed.",
            "<!date^1551227390^",
        ],
        id="judgment-awaiting",
    ),
    pytest.param(
        judgment_event("complete", judged("SUCCEEDED", "continue", judgmentInput="Deploy anyway")),
        "judgment.continued",
        [
            "compute",
            "Simple Wait Pipeline",
            "Proceed Anyway?",
            "judged to *continue* by carol@example.com",
            "alice@example.com (manual)",
            f"{RUN_URL}?refId=4",
            "Deploy anyway",
            "1h 2m 3s",
        ],
        id="judgment-continued",
    ),
    pytest.param(
        judgment_event("failed", judged("TERMINAL", "stop")),
        "judgment.stopped",
        [
            "compute",
            "Simple Wait Pipeline",
            "Proceed Anyway?",
            "judged to *stop* by carol@example.com",
            "alice@example.com (manual)",
            f"{RUN_URL}?refId=4",
            "1h 2m 3s",
        ],
        id="judgment-stopped",
    ),
]


@pytest.mark.parametrize(("document", "template", "expected"), TEMPLATE_CASES)
def test_rendering_carries_what_people_need(document: dict, template: str, expected: list[str]) -> None:
    decision = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"}))
    (notification,) = decision.notifications
    assert notification.template == template
    body = render(notification, UI)
    assert_valid_block_kit(body)
    for part in expected:
        assert part in shown(body)
    assert "Simple Wait Pipeline" in body["text"]


@pytest.mark.parametrize(
    ("document", "headline"),
    [
        pytest.param(
            pipeline_event("starting", run()), ":arrow_forward: Simple Wait Pipeline started", id="starting"
        ),
        pytest.param(
            pipeline_event("complete", finished("SUCCEEDED")),
            ":white_check_mark: Simple Wait Pipeline succeeded",
            id="complete",
        ),
        pytest.param(pipeline_event("failed", failed_run()), ":x: Simple Wait Pipeline failed", id="failed"),
        pytest.param(
            pipeline_event("failed", finished("CANCELED", canceled=True)),
            ":no_entry_sign: Simple Wait Pipeline was canceled",
            id="canceled",
        ),
        pytest.param(
            judgment_event("starting", run()),
            ":hourglass_flowing_sand: Judgment needed: Proceed Anyway?",
            id="awaiting",
        ),
    ],
)
def test_rendering_headline_says_the_state(document: dict, headline: str) -> None:
    header = message(document)["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": True}}


def test_rendering_fallback_follows_echo_wording() -> None:
    assert (
        message(pipeline_event("complete", finished("SUCCEEDED")))["text"]
        == "Compute's Simple Wait Pipeline pipeline has completed successfully"
    )
    assert (
        message(wait_event("starting", run()))["text"]
        == "Stage Wait for Compute's Simple Wait Pipeline pipeline started"
    )
    assert (
        message(judgment_event("starting", run()))["text"]
        == "Stage Proceed Anyway? for Compute's Simple Wait Pipeline pipeline is awaiting manual judgment"
    )


def test_rendering_orchestration_links_to_tasks() -> None:
    body = message(
        pipeline_event(
            "complete",
            finished(
                "SUCCEEDED", type="ORCHESTRATION", preference=everything(when=["orchestration.complete"])
            ),
            kind="orchestration",
        )
    )
    assert f"{UI}/#/applications/compute/tasks/{RUN_ID}" in shown(body)
    assert body["text"] == "Compute's Simple Wait Pipeline task has completed successfully"


def jenkins_trigger() -> dict:
    return {
        "type": "jenkins",
        "master": "ci",
        "job": "relay-build",
        "buildNumber": 42,
        "buildInfo": {
            "name": "relay-build",
            "number": 42,
            "result": "SUCCESS",
            "url": "https://jenkins.example.com/job/relay-build/42/",
        },
    }


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        pytest.param(
            {"type": "manual", "user": "alice@example.com"}, "alice@example.com (manual)", id="user"
        ),
        pytest.param(
            jenkins_trigger(),
            "<https://jenkins.example.com/job/relay-build/42/|jenkins relay-build #42>",
            id="build-with-link",
        ),
        pytest.param(
            {"type": "jenkins", "other": jenkins_trigger()},
            "<https://jenkins.example.com/job/relay-build/42/|jenkins relay-build #42>",
            id="build-nested-under-other",
        ),
        pytest.param(
            {
                "type": "git",
                "source": "github",
                "project": "acme",
                "slug": "relay",
                "branch": "main",
                "hash": "0123456789abcdef0123",
            },
            "<https://github.com/acme/relay/commit/0123456789abcdef0123|git relay main 0123456789ab>",
            id="git-commit-linked",
        ),
        pytest.param(
            {"type": "git", "source": "stash", "project": "acme", "slug": "relay", "hash": "0123456789abc"},
            "git relay 0123456789ab",
            id="git-commit-unknown-host",
        ),
        pytest.param(
            {"type": "docker", "repository": "acme/relay", "digest": "sha256:4f2a"},
            "image acme/relay@sha256:4f2a",
            id="image-digest",
        ),
        pytest.param({"type": "webhook", "source": "release-bot"}, "webhook release-bot", id="webhook"),
        pytest.param(
            {"type": "pubsub", "pubsubSystem": "google", "subscriptionName": "builds"},
            "pubsub google builds",
            id="pubsub",
        ),
        pytest.param(
            {"type": "manual", "user": "[anonymous]", "runAsUser": "deploy-bot"},
            "deploy-bot (manual)",
            id="service-account",
        ),
        pytest.param(
            {"type": "docker", "registry": "index.docker.io", "repository": "acme/relay", "tag": "1.2.3"},
            "image acme/relay:1.2.3",
            id="image",
        ),
        pytest.param(
            payload("orca_execution_with_manualJudgment_in_parent.json")["trigger"],
            f"<{UI}/#/applications/tracks/executions/details/84099610-f292-4cab-bd5a-49ecf8570ffe"
            "|pipeline PROD Deployment>",
            id="parent-pipeline",
        ),
        pytest.param(
            payload("armory_policy_input_manualJudgment_stage_judged.json")["input"]["pipeline"]["trigger"],
            "myUserName (manual)",
            id="un-flattened-trigger",
        ),
        pytest.param(
            {"type": "cron", "cronExpression": "0 30 16 ? * SUN"}, "cron 0 30 16 ? * SUN", id="cron"
        ),
        pytest.param({"type": "cron"}, "cron", id="cron-without-expression"),
        pytest.param({}, "unknown", id="no-trigger"),
    ],
)
def test_rendering_names_the_trigger(trigger: dict, expected: str) -> None:
    body = message(pipeline_event("complete", finished("SUCCEEDED", trigger=trigger)))
    assert fields(body)["Trigger"] == expected


def test_rendering_real_judged_stage_from_armory_payload() -> None:
    captured = payload("armory_policy_input_manualJudgment_stage_judged.json")["input"]
    stage = captured["stage"]
    stage["context"].update(sendNotifications=True, notifications=[everything()], judgmentInput="ship it")
    captured["pipeline"]["stages"] = [stage]
    body = message(stage_event("complete", captured["pipeline"], stage_id=stage["id"]))
    assert "judged to *continue* by myUserName" in shown(body)
    assert fields(body)["Choice"] == "ship it"
    assert fields(body)["Trigger"] == "myUserName (manual)"
    assert "/#/applications/hostname/executions/details/01F5EF6V1CTYQBD3HBNZXG0CTJ?refId=4" in shown(body)


def test_rendering_judged_by_last_modified_user_when_context_lacks_it() -> None:
    execution_ = judged("SUCCEEDED", "continue", lastModifiedBy=None)
    execution_["stages"][-1]["lastModified"] = {"user": "dave@example.com", "allowedAccounts": []}
    assert "judged to *continue* by dave@example.com" in shown(
        message(judgment_event("complete", execution_))
    )


def with_custom_text(when: str) -> dict:
    return everything(message={when: {"text": "Shipped! Thanks <@U123ABC>"}})


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            pipeline_event(
                "complete", finished("SUCCEEDED", preference=with_custom_text("pipeline.complete"))
            ),
            id="pipeline",
        ),
        pytest.param(
            pipeline_event(
                "failed", finished("CANCELED", canceled=True, preference=with_custom_text("pipeline.failed"))
            ),
            id="canceled",
        ),
        pytest.param(
            wait_event("complete", finished("SUCCEEDED", preference=with_custom_text("stage.complete"))),
            id="stage",
        ),
        pytest.param(
            judgment_event("starting", run(preference=with_custom_text("manualJudgment"))), id="judgment"
        ),
        pytest.param(
            judgment_event(
                "failed", judged("TERMINAL", "stop", notifications=[with_custom_text("manualJudgmentStop")])
            ),
            id="judgment-stopped",
        ),
    ],
)
def test_rendering_appends_custom_text_for_the_when(document: dict) -> None:
    body = message(document)
    assert {"type": "section", "text": {"type": "mrkdwn", "text": "Shipped! Thanks <@U123ABC>"}} in body[
        "blocks"
    ]


def test_rendering_custom_text_of_another_when_is_not_shown() -> None:
    preference = everything(message={"pipeline.failed": {"text": "Call the on-call"}})
    assert "on-call" not in shown(
        message(pipeline_event("complete", finished("SUCCEEDED", preference=preference)))
    )


def test_rendering_custom_message_replaces_the_body() -> None:
    preference = everything(customMessage="Run {{executionId}} is done: {{link}} <!channel>")
    body = message(pipeline_event("complete", finished("SUCCEEDED", preference=preference)))
    summary = body["blocks"][1]["text"]["text"]
    assert summary == f"Run {RUN_ID} is done: {RUN_URL} &lt;!channel&gt;"


def test_rendering_custom_message_link_in_angle_brackets_is_a_link_as_in_echo() -> None:
    preference = everything(customMessage="<{{link}}|Run {{executionId}}> is done")
    body = message(pipeline_event("complete", finished("SUCCEEDED", preference=preference)))
    assert body["blocks"][1]["text"]["text"] == f"<{RUN_URL}|Run {RUN_ID}> is done"


def test_rendering_stage_custom_message_from_stage_context() -> None:
    execution_ = run()
    execution_["stages"][0]["context"]["customMessage"] = "Stage of {{executionId}}: {{link}}"
    summary = message(wait_event("starting", execution_))["blocks"][0]["text"]["text"]
    assert summary == f"Stage of {RUN_ID}: {RUN_URL}?refId=1"


HOSTILE_NAMES = [
    "<!channel>",
    "<!here|here>",
    "<@U123ABC>",
    "Tom & Jerry <b>",
    "<https://evil.example|click>",
    "*bold* _it_ `code` <#C0123|general>",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_rendering_escapes_names_from_events(name: str) -> None:
    execution_ = failed_run(error=f"error {name}")
    execution_["name"] = name
    execution_["stages"][0]["name"] = name
    execution_["trigger"]["user"] = name
    documents = [
        pipeline_event("failed", execution_),
        wait_event("failed", execution_),
        judgment_event("starting", execution_),
    ]
    for document in documents:
        document["details"]["application"] = name
        body = message(document)
        assert_valid_block_kit(body)
        for text in [body["text"], *mrkdwn(body["blocks"])]:
            assert "<!" not in text.replace("<!date^", "") and "<@" not in text and "<#" not in text
            assert "<https://evil" not in text
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in body["text"]


def test_rendering_header_keeps_names_readable() -> None:
    execution_ = finished("SUCCEEDED", name="Tom & Jerry <deploy>")
    header = message(pipeline_event("complete", execution_))["blocks"][0]["text"]["text"]
    assert header == ":white_check_mark: Tom & Jerry <deploy> succeeded"  # plain_text: Slack shows it as is


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Thanks <@U123ABC> and <@W0ABC>", "Thanks <@U123ABC> and <@W0ABC>", id="user-mentions-kept"
        ),
        pytest.param("Ask <!subteam^S0123ABC>", "Ask <!subteam^S0123ABC>", id="group-mention-kept"),
        pytest.param("See <#C0123ABC|deploys>", "See <#C0123ABC|deploys>", id="channel-link-kept"),
        pytest.param(
            "Docs <https://docs.example.com|here>", "Docs <https://docs.example.com|here>", id="link-kept"
        ),
        pytest.param(
            "Hey <!channel> and <!here>", "Hey &lt;!channel&gt; and &lt;!here&gt;", id="broadcasts-escaped"
        ),
        pytest.param(
            "<!everyone> <!channel|channel>",
            "&lt;!everyone&gt; &lt;!channel|channel&gt;",
            id="broadcast-forms-escaped",
        ),
        pytest.param("a < b & c > d", "a &lt; b &amp; c &gt; d", id="plain-characters-escaped"),
        pytest.param(
            "<@U123ABC|<!channel>>", "&lt;@U123ABC|&lt;!channel&gt;&gt;", id="mention-hiding-a-broadcast"
        ),
    ],
)
def test_rendering_custom_text_keeps_mentions_not_broadcasts(text: str, expected: str) -> None:
    preference = everything(message={"pipeline.complete": {"text": text}})
    body = message(pipeline_event("complete", finished("SUCCEEDED", preference=preference)))
    assert {"type": "section", "text": {"type": "mrkdwn", "text": expected}} in body["blocks"]


def test_rendering_instructions_html_becomes_safe_mrkdwn() -> None:
    instructions = (
        '<p>Check the <b>canary</b> &amp; the <a href="https://grafana.example.com/d/1">dashboard</a>'
        "</p><ul><li>then <!channel></li></ul><script>alert(1)</script> [runbook](https://runbook.example)"
    )
    execution_ = run()
    execution_["stages"][-1]["context"]["instructions"] = instructions
    detail = shown(message(judgment_event("starting", execution_)))
    assert (
        "*Instructions*\nCheck the *canary* &amp; the <https://grafana.example.com/d/1|dashboard>" in detail
    )
    assert "<https://runbook.example|runbook>" in detail
    assert "<!channel" not in detail and "<script" not in detail


HUGE = "x" * 50_000


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(pipeline_event("failed", failed_run(error="<!channel> & " + HUGE)), id="huge-error"),
        pytest.param(pipeline_event("complete", finished("SUCCEEDED", name=HUGE)), id="huge-pipeline-name"),
        pytest.param(
            pipeline_event("complete", finished("SUCCEEDED", name="&" * 20_000)), id="huge-escaped-name"
        ),
        pytest.param(wait_event("failed", failed_run(error="<" * 20_000)), id="huge-stage-error"),
        pytest.param(
            pipeline_event(
                "complete",
                finished(
                    "SUCCEEDED",
                    preference=everything(message={"pipeline.complete": {"text": "<@U123ABC> " * 5_000}}),
                ),
            ),
            id="huge-custom-text",
        ),
        pytest.param(
            pipeline_event("complete", finished("SUCCEEDED", preference=everything(customMessage=HUGE))),
            id="huge-custom-message",
        ),
        pytest.param(
            pipeline_event("complete", finished("SUCCEEDED", trigger={"type": "manual", "user": HUGE})),
            id="huge-trigger-user",
        ),
        pytest.param(
            pipeline_event("complete", finished("SUCCEEDED", trigger={"type": HUGE})), id="huge-trigger-type"
        ),
    ],
)
def test_rendering_never_exceeds_block_kit_limits(document: dict) -> None:
    body = message(document)
    assert_valid_block_kit(body)


def test_rendering_huge_judgment_fields_are_truncated() -> None:
    execution_ = run(name="P" * 10_000)
    stage = execution_["stages"][-1]
    stage["name"] = "S" * 10_000
    stage["context"].update(
        instructions="<a href='" * 5_000 + HUGE,
        judgmentInputs=[{"value": f"option {i} " * 50} for i in range(200)],
    )
    document = judgment_event("starting", execution_)
    document["content"]["name"] = stage["name"]
    body = message(document)
    assert_valid_block_kit(body)
    assert body["blocks"][0]["text"]["text"].endswith("…")


def test_rendering_huge_names_keep_their_links() -> None:
    body = message(pipeline_event("complete", finished("SUCCEEDED", name=HUGE)))
    summary = body["blocks"][1]["text"]["text"]
    assert summary.startswith(f"*<{RUN_URL}|xxx")
    assert "…>*" in summary


def test_rendering_run_summary_for_threads_started_mid_run() -> None:
    event = EVENT_SCHEMA.load(wait_event("starting", run()))
    body = render_run_summary(event, UI)
    assert_valid_block_kit(body)
    assert body["blocks"][0]["text"]["text"] == ":arrows_counterclockwise: Simple Wait Pipeline is running"
    assert RUN_URL in shown(body)


def test_rendering_deadline_of_an_implausible_start_time() -> None:
    execution_ = run()
    document = judgment_event("starting", execution_)
    document["content"]["startTime"] = 10**30
    assert_valid_block_kit(message(document))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
EXECUTION_KEYS = [
    "name",
    "description",
    "status",
    "startTime",
    "endTime",
    "canceled",
    "canceledBy",
    "cancellationReason",
    "trigger",
    "stages",
    "authentication",
    "type",
]
STAGE_KEYS = ["name", "refId", "status", "context", "tasks", "lastModified", "startTime", "endTime", "type"]
CONTEXT_KEYS = [
    "instructions",
    "judgmentInputs",
    "judgmentInput",
    "lastModifiedBy",
    "stageTimeoutMs",
    "overrideTimeout",
    "exception",
    "customMessage",
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    execution_junk=st.dictionaries(st.sampled_from(EXECUTION_KEYS), json_values, max_size=3),
    stage_junk=st.dictionaries(st.sampled_from(STAGE_KEYS), json_values, max_size=3),
    context_junk=st.dictionaries(st.sampled_from(CONTEXT_KEYS), json_values, max_size=3),
    trigger_junk=st.dictionaries(
        st.sampled_from(
            [
                "type",
                "user",
                "buildInfo",
                "hash",
                "tag",
                "repository",
                "parentExecution",
                "other",
                "buildNumber",
            ]
        ),
        json_values,
        max_size=3,
    ),
    outcome=st.sampled_from(["starting", "complete", "failed"]),
)
def test_rendering_survives_wrong_types_anywhere(
    execution_junk: dict, stage_junk: dict, context_junk: dict, trigger_junk: dict, outcome: str
) -> None:
    base = failed_run()
    documents = []
    for stage_id in (WAIT_STAGE_ID, JUDGMENT_STAGE_ID):
        execution_ = copy.deepcopy(base)
        execution_["trigger"].update(trigger_junk)
        stage = next(s for s in execution_["stages"] if s["id"] == stage_id)
        stage.update({key: value for key, value in stage_junk.items() if key != "context"})
        stage["context"].update(context_junk)
        documents.append(stage_event(outcome, execution_, stage_id=stage_id))
    execution_ = copy.deepcopy(base)
    execution_.update({key: value for key, value in execution_junk.items() if key != "notifications"})
    documents.append(pipeline_event(outcome, execution_))
    for document in documents:
        for body in messages(document):
            assert_valid_block_kit(body)


@pytest.mark.parametrize(
    ("trigger", "authentication", "expected"),
    [
        pytest.param(
            {"type": "manual", "user": "[anonymous]"},
            {"user": "bob@example.com"},
            "bob@example.com (manual)",
            id="anonymous-trigger-authenticated-user",
        ),
        pytest.param(
            {"type": "cron", "user": "[anonymous]", "cronExpression": "0 0 * * * ?"},
            {"user": "[anonymous]"},
            "cron 0 0 * * * ?",
            id="nobody",
        ),
        pytest.param(
            {"type": "webhook", "source": "ci"},
            {"user": "carol@example.com"},
            "webhook ci by carol@example.com",
            id="webhook-by-user",
        ),
    ],
)
def test_rendering_names_who_triggered_as_deck_does(
    trigger: dict, authentication: dict, expected: str
) -> None:
    body = message(
        pipeline_event("complete", finished("SUCCEEDED", trigger=trigger, authentication=authentication))
    )
    assert fields(body)["Trigger"] == expected


def real_failed_run() -> dict:
    """Orca's real TERMINAL run: the error sits on a STOPPED synthetic child of a STOPPED stage."""
    run_ = payload("orca_execution_with_manualJudgment_in_parent.json")
    run_["notifications"] = [everything()]
    return run_


def test_rendering_failed_run_names_the_failed_synthetic_stage_and_its_error() -> None:
    body = message(pipeline_event("failed", real_failed_run()))
    url = f"{UI}/#/applications/tracks/executions/details/3e0c2e5c-fd3c-4e4d-934e-e315066cbde9?refId=7"
    assert f"*Failed stage:* <{url}|Create New ASG › Deploy in us-east-1>" in shown(body)
    assert f"*Error:* No _valueDeserializer assigned (<{url}|full error>)" in shown(body)
    assert_valid_block_kit(body)


def test_rendering_failed_stage_event_shows_the_error_of_its_synthetic_child() -> None:
    run_ = real_failed_run()
    run_["canceled"] = False  # Orca marks this run canceled; its stage events then notify nobody
    owner = next(s for s in run_["stages"] if s["name"] == "Create New ASG")
    owner["context"].update(sendNotifications=True, notifications=[everything()])
    body = message(stage_event("failed", run_, stage_id=owner["id"]))
    assert "*Error:* No _valueDeserializer assigned" in shown(body)


def test_rendering_long_error_is_cut_with_a_link_to_the_whole_text() -> None:
    body = message(pipeline_event("failed", failed_run("x" * 5000)))
    (detail,) = [text for text in shown(body).split("\n") if text.startswith("*Error:*")]
    assert len(detail) < 500 and detail.endswith(f"…(<{RUN_URL}?refId=1|full error>)".replace("…(", "… ("))
