"""Fault injection between the relay and Gate during Manual Judgments: one run after another, each clicked
while Gate misbehaves in its own way, then the outcomes tallied against what Gate applied."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import events
from tests.fake_gate import FakeGate
from tests.fakes import Message
from tests.judgment_world import APPROVER, JUDGMENT_CHANNEL, OTHER, STAGE_ID, World, buttons, judgment_world
from tests.tally import Tally

GATE_TIMEOUT = 0.5  # the relay's Gate timeout here; a slower answer is a timeout
UNSETTLED = {"received", "claimed", "patching", "patched"}
CLAIM_HOLDER_OUTCOMES = {"decided", "unconfirmed", "reset", "failed"}  # others lost the claim, or repeated it
ALL_BUTTONS = ["judgment.choose.0", "judgment.choose.1", "judgment.reject"]


@dataclass(frozen=True)
class Fault:
    """What Gate does to one run's judgment, and how many of its `judge` calls it does not apply."""

    name: str
    inject: Callable[[FakeGate], None]
    refused_judge_calls: int = 0
    final_failure: bool = False  # Gate refuses for good: explained, buttons back, nothing judged
    clickers: tuple[str, ...] = (APPROVER,)
    applied_late: bool = False  # Gate applies the PATCH after the relay stopped waiting for the answer


FAULTS = [
    Fault("none", lambda gate: None),
    Fault("5xx for a while", lambda gate: (gate.fail_next("get_execution", status=502, count=2),
                                           gate.fail_next("judge", status=503, count=2)),
          refused_judge_calls=2),
    Fault("timeout, not applied", lambda gate: gate.fail_next("judge", status=503, delay=GATE_TIMEOUT * 2),
          refused_judge_calls=1),
    Fault("timeout, applied (answer lost)", lambda gate: gate.fail_next("judge", status=None,
                                                                        delay=GATE_TIMEOUT * 2),
          applied_late=True),
    Fault("slow reads", lambda gate: gate.fail_next("get_execution", status=None, delay=GATE_TIMEOUT * 2,
                                                    count=2)),
    Fault("403", lambda gate: gate.fail_next("judge", status=403), refused_judge_calls=1, final_failure=True),
    Fault("404", lambda gate: gate.fail_next("judge", status=404), refused_judge_calls=1, final_failure=True),
    Fault("two approvers at once, Gate failing", lambda gate: gate.fail_next("judge", status=503),
          refused_judge_calls=1, clickers=(APPROVER, OTHER)),
    Fault("double click, Gate failing", lambda gate: gate.fail_next("judge", status=502),
          refused_judge_calls=1, clickers=(APPROVER, APPROVER)),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with judgment_world(tmp_path, gate_timeout=GATE_TIMEOUT) as built:
        yield built


def start_judgment(world: World, run_id: str) -> Message:
    """A run of its own waits at its Manual Judgment stage; the message with buttons is in Slack."""
    run = events.execution(id=run_id)
    world.gate.add_execution(run)
    assert world.echo(events.stage_event("starting", run, stage_id=STAGE_ID)).status_code == 202
    world.drain()
    return judgment_message(world, run_id)


def judgment_message(world: World, run_id: str) -> Message:
    ref = world.store.message(f"{run_id}/{STAGE_ID}@{JUDGMENT_CHANNEL}")
    assert ref is not None, f"no judgment message for {run_id}"
    message = world.slack.message(ref.channel, ref.ts)
    assert message is not None
    return message


def applied_at_gate(world: World, run_id: str) -> None:
    """Wait (real time) until Gate has applied a judgment to the run's stage."""
    world.gate.wait_for(lambda: world.gate.stage(run_id, STAGE_ID)["context"].get("judgmentStatus"))


def settle(world: World, run_id: str) -> str:
    """Let the relay retry and watch (an hour of the shared clock at most); the outcome of the click that
    held the stage's claim (the other clicks on the run were told they were too late, or repeats)."""
    for _ in range(60):
        world.drain()
        statuses = [j.status for j in world.judgments() if j.execution_id == run_id]
        if statuses and not UNSETTLED & set(statuses):
            outcomes = [status for status in statuses if status in CLAIM_HOLDER_OUTCOMES]
            return outcomes[0] if len(outcomes) == 1 else f"claim held {len(outcomes)} times: {statuses}"
        world.clock.advance(60)
    raise AssertionError(f"{run_id}: the judgment never settled: {statuses}")


def test_faults_gate_never_judge_twice_and_explain_what_failed(world: World) -> None:
    """Every click the relay acknowledged ends judged in Gate exactly once, or, when Gate refuses for good
    (403, 404), explained to the clicker with the buttons back. Duplicates must be 0: one claim per stage
    keeps a second click from sending a second decision, and after an unclear PATCH (a timeout, a 5xx) the
    relay reads the stage before it sends again, so a PATCH that Gate applied but whose answer was lost is
    not repeated. That read comes a minute later; the test lets the slow PATCH finish first, as that minute
    would. (A PATCH Gate holds for longer is the one way to a repeat: see the test below.)"""
    accepted, delivered, duplicates, lost = 0, 0, 0, []
    for number, fault in enumerate(FAULTS):
        run_id = f"gate-fault-run-{number:02d}"
        message = start_judgment(world, run_id)
        judge_calls_before = len(world.gate.calls_to("judge"))
        fault.inject(world.gate)
        acks = [world.click(message, "judgment.choose.0", user=user).status_code for user in fault.clickers]
        assert acks == [200] * len(fault.clickers), fault.name
        accepted += 1
        if fault.applied_late:
            world.drain()
            applied_at_gate(world, run_id)  # Gate finishes the slow PATCH before the relay's next look


        status = settle(world, run_id)
        judge_calls = len(world.gate.calls_to("judge")) - judge_calls_before
        applied = judge_calls - fault.refused_judge_calls
        duplicates += max(0, applied - 1)
        stage = world.gate.stage(run_id, STAGE_ID)
        if fault.final_failure:
            restored = buttons(judgment_message(world, run_id)) == ALL_BUTTONS
            explained = any("Nothing was decided" in note for note in world.told(APPROVER)[-1:])
            ok = (status == "failed" and applied == 0 and stage["status"] == "RUNNING" and restored
                  and explained)
        else:
            ok = status == "decided" and applied == 1 and stage["status"] == "SUCCEEDED"
        if ok:
            delivered += 1
        else:
            lost.append(f"{fault.name}: {status}, {applied} applied, stage {stage['status']}")

    result = Tally(accepted, delivered, duplicates, len(lost), tuple(lost))
    print(result.line())
    assert result.duplicates == 0
    assert result.lost == 0, result.lost_runs
    assert accepted == len(FAULTS)


def test_faults_gate_patch_held_past_the_relays_next_look_is_repeated_with_the_same_decision(
        world: World) -> None:
    """The limit of the design, measured: Gate holds a PATCH longer than the relay's retry delay and applies
    it afterwards. The relay's read in between still shows no judgment, so it sends the PATCH again. Both
    PATCHes carry the same click (decision, input, judge), so Orca acts once and the second one only rewrites
    the same judgment: a duplicate request, never a second decision."""
    run_id = "gate-fault-held-patch"
    message = start_judgment(world, run_id)
    world.gate.fail_next("judge", status=None, delay=GATE_TIMEOUT * 2)
    assert world.click(message, "judgment.choose.0", user=APPROVER).status_code == 200
    status = settle(world, run_id)  # the clock runs on while Gate still holds the first PATCH
    applied_at_gate(world, run_id)
    first, *repeats = [call for call in world.gate.calls_to("judge") if run_id in call.path]

    result = Tally(1, int(status == "decided"), len(repeats), int(status != "decided"), (status,))
    print(result.line())
    assert status == "decided" and world.gate.stage(run_id, STAGE_ID)["status"] == "SUCCEEDED"
    assert len(repeats) <= 1
    assert all(repeat.body == first.body for repeat in repeats)
