"""Tests for relay/judgments/decide.py: the judgment decision table, with no I/O at all."""

from __future__ import annotations

from typing import Any

import pytest

from relay.judgments.decide import (
    AUTHORIZE,
    CONFIRM,
    DECIDED,
    DM_RETRY_SECONDS,
    ENDED_CANCELED,
    ENDED_CONTINUED,
    ENDED_EXPIRED,
    ENDED_STOPPED,
    EXPIRED,
    MAX_POLL_DELAY,
    OVERTAKEN,
    PATCH,
    POLL_SECONDS,
    RECHECK_SECONDS,
    REFUSE,
    RESET,
    STALE,
    UNCONFIRMED,
    UNSEND,
    WAIT,
    Tick,
    decide,
    first_look,
    tick,
)
from relay.spinnaker.judgment_stage import deadline, judgment_state, span, timeout_ms
from relay.store import CLAIMED, PATCHED, PATCHING, RECEIVED, Judgment, Timer
from relay.store import DECIDED as DECIDED_STATUS

NOW = 1_000_000.0


def judgment(status: str, *, decision: str = "continue", input_index: int | None = None,
             patched_at: float | None = None) -> Judgment:
    return Judgment(id=1, execution_id="01HEXEC", stage_id="mj", address="#deploys", application="app",
                    decision=decision, input_index=input_index, judgment_input=None, reason=None,
                    user_id="U1", user_email="a@example.com", channel_id="C1", message_ts="1.1",
                    thread_ts=None, status=status, detail=None, claim=None, gate_status=None, gate_user=None,
                    stage_status=None, snapshot=None, received_at=NOW - 5, claimed_at=None,
                    patched_at=patched_at, finished_at=None)


def stage(status: str = "RUNNING", *, verdict: str | None = None, options: list[str] | None = None,
          run: str = "RUNNING") -> Any:
    context: dict[str, Any] = {"judgmentStatus": verdict} if verdict else {}
    if options:
        context["judgmentInputs"] = [{"value": option} for option in options]
    execution = {"id": "01HEXEC", "status": run,
                 "stages": [{"id": "mj", "type": "manualJudgment", "status": status, "context": context}]}
    return judgment_state(execution, "mj")


@pytest.mark.parametrize(("record", "reading", "expected"), [
    (judgment(RECEIVED), stage(), AUTHORIZE),
    (judgment(RECEIVED), stage("SUCCEEDED", verdict="continue", run="SUCCEEDED"), STALE),
    (judgment(RECEIVED), stage(verdict="stop"), STALE),  # someone is judging it in Spinnaker
    (judgment(RECEIVED), stage("NOT_STARTED"), STALE),
    (judgment(RECEIVED), stage(options=["blue", "green"]), REFUSE),  # Approve with no option picked
    (judgment(RECEIVED, input_index=5), stage(options=["blue", "green"]), REFUSE),
    (judgment(RECEIVED, input_index=1), stage(options=["blue", "green"]), AUTHORIZE),
    (judgment(RECEIVED, decision="stop"), stage(options=["blue", "green"]), AUTHORIZE),
    (judgment(CLAIMED), stage(), PATCH),
    (judgment(CLAIMED), stage("CANCELED", run="CANCELED"), OVERTAKEN),
    (judgment(PATCHING), stage(verdict="continue"), CONFIRM),  # the lost answer's PATCH landed
    (judgment(PATCHING), stage("SUCCEEDED", verdict="continue", run="SUCCEEDED"), CONFIRM),
    (judgment(PATCHING), stage(), UNSEND),  # it did not land: decide again from claimed
    (judgment(PATCHED, patched_at=NOW), stage("SUCCEEDED", verdict="continue", run="SUCCEEDED"), DECIDED),
    (judgment(PATCHED, decision="stop", patched_at=NOW), stage("TERMINAL", verdict="stop", run="TERMINAL"),
     DECIDED),
    (judgment(PATCHED, patched_at=NOW - 1), stage(verdict="continue"), WAIT),
    (judgment(PATCHED, patched_at=NOW - POLL_SECONDS), stage(verdict="continue"), UNCONFIRMED),
    (judgment(PATCHED, patched_at=NOW), stage(), RESET),  # Orca put the judgment back
    (judgment(PATCHED, patched_at=NOW), stage(verdict="stop"), OVERTAKEN),  # changed in Spinnaker
    (judgment(PATCHED, patched_at=NOW), stage("CANCELED", run="CANCELED"), OVERTAKEN),
])
def test_decide_table(record: Judgment, reading: Any, expected: str) -> None:
    assert decide(record, reading, now=NOW).kind == expected


def test_decide_refusal_names_the_options_and_the_button() -> None:
    step = decide(judgment(RECEIVED), stage(options=["blue", "green"]), now=NOW)
    assert step.reason == "pick one of the options first (blue, green), then Approve"


@pytest.mark.parametrize(("waited", "delay"), [(0.0, 1.0), (4.0, 4.0), (40.0, MAX_POLL_DELAY)])
def test_decide_waits_longer_the_longer_orca_takes(waited: float, delay: float) -> None:
    step = decide(judgment(PATCHED, patched_at=NOW - waited), stage(verdict="continue"), now=NOW)
    assert (step.kind, step.delay) == (WAIT, delay)


def test_decide_has_nothing_to_decide_for_a_finished_judgment() -> None:
    with pytest.raises(ValueError, match="nothing is left to decide"):
        decide(judgment(DECIDED_STATUS), stage(), now=NOW)


@pytest.mark.parametrize(("context", "hours"), [
    ({}, 72),
    ({"stageTimeoutMs": 7_200_000}, 2),  # Orca reads it without overrideTimeout, a flag only Deck uses
    ({"stageTimeoutMs": 7_200_000, "overrideTimeout": False}, 2),
    ({"stageTimeoutMs": 7_200_000.0, "overrideTimeout": True}, 2),
    ({"stageTimeoutMs": "7200000"}, 72),  # not a number: Orca's getTimeout() ignores it
    ({"stageTimeoutMs": 0}, 72),
])
def test_judgment_stage_timeout_is_read_as_orca_reads_it(context: dict, hours: int) -> None:
    assert timeout_ms(context) == hours * 3_600_000
    assert deadline({"startTime": 1_000_000, "context": context}) == 1_000 + hours * 3600


@pytest.mark.parametrize(("seconds", "words"), [(259_200, "72 h"), (5_400, "1 h 30 m"), (2_700, "45 m"),
                                                (20, "20 s")])
def test_judgment_span_reads_at_a_glance(seconds: float, words: str) -> None:
    assert span(seconds) == words


def timer(*, reminded: dict | None = None, escalated: bool = False, dms_pending: bool = False,
          every: float | None = 1800.0, escalate_after: float | None = 7200.0) -> Timer:
    return Timer(key="01HEXEC/mj", execution_id="01HEXEC", stage_id="mj", application="app", started_at=NOW,
                 deadline=NOW + 6 * 3600, plan={"every": {"#deploys": every} if every else {},
                                               "escalate_after": escalate_after, "escalate_to": ["S1"]},
                 reminded=reminded or {}, escalated=escalated, dms_pending=dms_pending, next_at=None,
                 outcome=None, judge=None, ended_at=None, version=0)


def judged(verdict: str, status: str, judge: str = "deck@example.com") -> Any:
    reading = stage(status, verdict=verdict, run=status)
    reading.stage["context"]["lastModifiedBy"] = judge
    return judgment_state({"id": "01HEXEC", "status": status, "stages": [reading.stage]}, "mj")


@pytest.mark.parametrize(("record", "reading", "after", "expected"), [
    (timer(), stage(), 1799, Tick(reminded={}, next_at=NOW + 1800)),
    (timer(), stage(), 1800, Tick(remind=("#deploys",), reminded={"#deploys": 1}, next_at=NOW + 3600)),
    (timer(), None, 1800, Tick(remind=("#deploys",), reminded={"#deploys": 1}, next_at=NOW + 3600)),
    # a relay down for 95 minutes sends one reminder, not three
    (timer(), stage(), 5700, Tick(remind=("#deploys",), reminded={"#deploys": 3}, next_at=NOW + 7200)),
    (timer(reminded={"#deploys": 3}), stage(), 7200,
     Tick(remind=("#deploys",), escalate=True, reminded={"#deploys": 4},
          next_at=NOW + 7200 + DM_RETRY_SECONDS)),
    (timer(reminded={"#deploys": 4}, escalated=True, dms_pending=True), stage(), 7300,
     Tick(retry_dms=True, reminded={"#deploys": 4}, next_at=NOW + 7300 + DM_RETRY_SECONDS)),
    (timer(every=None, escalate_after=None), stage(), 60, Tick(reminded={}, next_at=NOW + 6 * 3600)),
    (timer(), stage(verdict="continue"), 1800, Tick(next_at=NOW + 1800 + RECHECK_SECONDS)),  # being judged
    (timer(), judged("continue", "SUCCEEDED"), 1800, Tick(outcome=ENDED_CONTINUED, judge="deck@example.com")),
    (timer(), judged("stop", "TERMINAL"), 1800, Tick(outcome=ENDED_STOPPED, judge="deck@example.com")),
    (timer(), stage("CANCELED", run="CANCELED"), 1800, Tick(outcome=ENDED_CANCELED)),
    (timer(), stage(), 6 * 3600, Tick(outcome=ENDED_EXPIRED)),  # the deadline, whatever Gate shows yet
    (timer(), None, 6 * 3600, Tick(outcome=ENDED_EXPIRED)),
])
def test_decide_tick_table(record: Timer, reading: Any, after: float, expected: Tick) -> None:
    assert tick(record, reading, now=NOW + after) == expected


def test_decide_tick_holds_reminders_while_a_slack_click_is_carried_out() -> None:
    assert tick(timer(), stage(), now=NOW + 1800, claimed=True) == Tick(next_at=NOW + 1800 + RECHECK_SECONDS)


def test_decide_tick_never_names_a_judge_for_a_timeout() -> None:
    timed_out = stage("TERMINAL", run="TERMINAL")
    timed_out.stage.update(startTime=1, endTime=1 + 72 * 3_600_000)  # Orca's three days
    reading = judgment_state({"id": "01HEXEC", "status": "TERMINAL", "stages": [timed_out.stage]}, "mj")
    assert tick(timer(), reading, now=NOW + 6 * 3600) == Tick(outcome=ENDED_EXPIRED)


@pytest.mark.parametrize(("status", "deadline_at", "expected"), [
    (RECEIVED, NOW, EXPIRED),
    (RECEIVED, NOW + 1, None),
    (RECEIVED, None, None),  # no timer: Gate decides
    (PATCHED, NOW - 10, None),  # a judgment already sent is followed to its end
])
def test_decide_first_look_expires_late_clicks_without_gate(status: str, deadline_at: float | None,
                                                             expected: str | None) -> None:
    step = first_look(judgment(status), deadline=deadline_at, now=NOW)
    assert (step.kind if step else None) == expected
