"""Tests for relay/spinnaker/execution.py: where a run failed (Deck's rules) and every Orca error shape."""

from __future__ import annotations

from typing import Any

import pytest

from relay.spinnaker.execution import failing_stage, stage_error


def stage(
    ref: str,
    status: str,
    *,
    parent: str | None = None,
    owner: str | None = None,
    start: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    context = {"exception": {"details": {"errors": [error]}}} if error else {}
    return {
        "id": f"id-{ref}",
        "refId": ref,
        "name": f"stage {ref}",
        "status": status,
        "startTime": start,
        "parentStageId": parent and f"id-{parent}",
        "syntheticStageOwner": owner,
        "context": context,
    }


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        pytest.param([stage("1", "SUCCEEDED", start=1), stage("2", "TERMINAL", start=2)], "2", id="terminal"),
        pytest.param(
            [stage("2", "TERMINAL", start=5), stage("1", "TERMINAL", start=1)],
            "1",
            id="execution-order-not-list-order",
        ),
        pytest.param(
            [stage("1", "STOPPED", start=1), stage("2", "TERMINAL", start=2)],
            "2",
            id="stopped-without-error-is-not-the-cause",
        ),
        pytest.param(
            [
                stage("1", "STOPPED", start=1),
                stage("1=1", "STOPPED", parent="1", owner="STAGE_BEFORE", start=1, error="boom"),
            ],
            "1=1",
            id="stopped-synthetic-child-with-error",
        ),
        pytest.param(
            [stage("1", "FAILED_CONTINUE", start=1), stage("2", "TERMINAL", start=2)],
            "2",
            id="halting-failure-before-failed-continue",
        ),
        pytest.param(
            [stage("1", "SUCCEEDED", start=1), stage("2", "FAILED_CONTINUE", start=2)],
            "2",
            id="failed-continue-when-nothing-halted",
        ),
        pytest.param(
            [
                stage("1", "TERMINAL", start=1),
                stage("1>1", "TERMINAL", parent="1", owner="STAGE_AFTER", start=2, error="late"),
                stage("1<1", "TERMINAL", parent="1", owner="STAGE_BEFORE", start=1, error="early"),
            ],
            "1<1",
            id="before-stages-run-first",
        ),
        pytest.param([stage("1", "CANCELED", start=1)], "1", id="canceled-last-resort"),
        pytest.param([stage("1", "SUCCEEDED", start=1)], None, id="nothing-failed"),
        pytest.param(
            [stage("a", "TERMINAL", parent="b"), stage("b", "TERMINAL", parent="a")],
            None,
            id="parent-loop-in-bad-input",
        ),
    ],
)
def test_failing_stage_follows_deck(stages: list[dict], expected: str | None) -> None:
    assert failing_stage({"stages": stages}).get("refId") == expected


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        pytest.param(
            {"context": {"exception": {"details": {"errors": ["a", "b"], "error": "generic"}}}},
            "a; b",
            id="exception-errors",
        ),
        pytest.param(
            {"context": {"exception": {"details": {"error": "Internal Server Error"}}}},
            "Internal Server Error",
            id="exception-error",
        ),
        pytest.param(
            {
                "context": {
                    "kato.tasks": [
                        {"status": {"failed": False}, "history": [{"status": "fine"}]},
                        {
                            "status": {"failed": True},
                            "exception": {"message": "Quota exceeded"},
                            "history": [],
                        },
                    ]
                }
            },
            "Quota exceeded",
            id="kato-task-exception",
        ),
        pytest.param(
            {
                "context": {
                    "kato.tasks": [
                        {
                            "status": {"failed": True},
                            "history": [{"status": "a"}, {"status": "ASG creation failed"}],
                        }
                    ]
                }
            },
            "ASG creation failed",
            id="kato-task-history",
        ),
        pytest.param(
            {"tasks": [{"taskExceptionDetails": {"exception": {"details": {"error": "timed out"}}}}]},
            "timed out",
            id="task-exception",
        ),
        pytest.param(
            {"context": {"error": "Bake failed: no base image"}},
            "Bake failed: no base image",
            id="context-error",
        ),
        pytest.param(
            {"context": {"webhook": {"statusCode": 500, "error": "Error submitting webhook"}}},
            "Error submitting webhook",
            id="webhook",
        ),
        pytest.param(
            {"context": {"webhook": {"monitor": {"error": "status check failed"}}}},
            "status check failed",
            id="webhook-monitor",
        ),
        pytest.param(
            {"context": {"exception": {"details": {"errors": [None, ""]}}, "error": " "}}, None, id="blank"
        ),
        pytest.param({"context": "not an object", "tasks": "nor this"}, None, id="wrong-types"),
    ],
)
def test_stage_error_reads_every_orca_shape(found: dict, expected: str | None) -> None:
    assert stage_error(found) == expected
