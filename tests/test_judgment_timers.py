"""Judgments over time, end to end against the fake Slack and Gate with a hand clock: reminders, escalation
to channels and direct messages, expiry at the deadline, and timers that survive restarts and replicas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.models import ApproverPolicy, RelayRules, ReminderPolicy
from relay.store import DECIDED
from tests import events
from tests.judgment_world import (
    APPROVER,
    JUDGMENT_CHANNEL,
    OTHER,
    STAGE_ID,
    World,
    buttons,
    judgment_world,
    text_of,
)

RUN_ID = events.execution()["id"]
HOUR, MINUTE = 3600.0, 60.0
TIMEOUT_HOURS = 6  # the fixture stage's stageTimeoutMs
GROUP, BOSS = "S0ONCALL", "U0BOSS"


def rules(**reminders: ReminderPolicy) -> RelayRules:
    approvers = {"compute": ApproverPolicy(users=frozenset({APPROVER, OTHER, BOSS}))}
    return RelayRules(approvers=approvers, reminders=reminders)


ESCALATING = rules(**{"comp*": ReminderPolicy(every=30 * MINUTE, escalate_after=2 * HOUR,
                                              escalate_to=(GROUP, BOSS))})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with judgment_world(tmp_path, rules=ESCALATING) as built:
        built.slack.add_user(BOSS, email="boss@example.com")
        built.slack.add_usergroup(GROUP, [APPROVER])
        yield built


def run_with_reminders(every_ms: int | None) -> dict[str, Any]:
    """The fixture run, its stage notification asking Orca to repeat every `every_ms`."""
    run = events.execution()
    stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
    if every_ms is not None:
        stage["context"]["notifications"][0]["notifyEveryMs"] = every_ms
    return run


def wait(world: World, seconds: float, *, step: float = 5 * MINUTE) -> None:
    """Let `seconds` pass, the dispatcher running as it would every `step`."""
    for _ in range(int(seconds // step)):
        world.clock.advance(step)
        world.drain()


def posted(world: World, phrase: str) -> list[dict[str, Any]]:
    return [c.params for c in world.slack.calls_to("chat.postMessage") if phrase in str(c.params.get("text"))]


@pytest.mark.parametrize(("every_ms", "elapsed", "expected"), [
    (1_800_000, 95 * MINUTE, 3),   # Orca's notifyEveryMs on the stage notification
    (3_600_000, 95 * MINUTE, 1),
    (None, 95 * MINUTE, 3),         # the relay's policy for comp*: every 30 m
])
def test_judgment_timer_reminds_once_per_interval_and_mentions_nobody(world: World, every_ms: int | None,
                                                                       elapsed: float, expected: int) -> None:
    world.start_judgment(run_with_reminders(every_ms))
    wait(world, elapsed)

    reminders = posted(world, "Still waiting")
    assert len(reminders) == expected
    assert all(r.get("thread_ts") for r in reminders)
    assert not [r for r in reminders if "<@" in r["text"] or "<!" in r["text"].replace("<!date", "")]
    assert "Still waiting: 1 h 30 m; expires" in reminders[-1]["text"] if expected == 3 else True
    assert "Waiting for" in text_of(world.judgment_message())


def test_judgment_timer_sends_no_reminder_after_a_decision_in_deck(world: World) -> None:
    world.start_judgment(run_with_reminders(1_800_000))
    wait(world, 65 * MINUTE)
    assert len(posted(world, "Still waiting")) == 2

    world.gate.judge(RUN_ID, STAGE_ID, "continue", user="deck-user@example.com", judgment_input="Roll back")
    wait(world, 3 * HOUR)

    assert len(posted(world, "Still waiting")) == 2
    assert posted(world, "rotating_light") == []  # no escalation either
    assert "judged to *continue* by deck-user@example.com" in text_of(world.judgment_message())
    timer = world.store.timer(f"{RUN_ID}/{STAGE_ID}")
    assert (timer.outcome, timer.judge) == ("continued", "deck-user@example.com")


def test_judgment_timer_expires_every_copy_at_the_deadline(world: World) -> None:
    world.start_judgment()
    wait(world, 3 * HOUR)  # the escalation adds direct-message copies
    copies = [world.judgment_message(), world.judgment_message(APPROVER), world.judgment_message(BOSS)]
    assert all(buttons(copy) for copy in copies)

    wait(world, (TIMEOUT_HOURS - 3) * HOUR)

    for channel in (JUDGMENT_CHANNEL, APPROVER, BOSS):
        shown = world.judgment_message(channel)
        assert buttons(shown) == []
        assert f"Expired after {TIMEOUT_HOURS} h without a decision" in text_of(shown)
        assert "judged" not in text_of(shown)
    timer = world.store.timer(f"{RUN_ID}/{STAGE_ID}")
    assert (timer.outcome, timer.judge) == ("expired", None)
    waits = world.services.metrics.registry.get_sample_value(
        "relay_judgment_wait_seconds_sum", {"application": "compute", "outcome": "expired"})
    assert waits == TIMEOUT_HOURS * HOUR


def test_judgment_click_after_expiry_makes_no_gate_call(world: World) -> None:
    message = world.start_judgment()
    wait(world, TIMEOUT_HOURS * HOUR)
    calls = len(world.gate.calls)

    world.click(message, "judgment.choose.0", user=APPROVER)  # a copy still showing its buttons
    world.drain()

    assert len(world.gate.calls) == calls
    (note,) = world.told(APPROVER)
    assert note.startswith(":alarm_clock: Nothing was decided: this judgment expired at <!date^")


def test_judgment_escalates_once_in_the_channel_and_to_each_approver(world: World) -> None:
    world.start_judgment()
    wait(world, 4 * HOUR)

    (shout,) = posted(world, "rotating_light")
    assert f"<!subteam^{GROUP}>" in shout["text"] and f"<@{BOSS}>" in shout["text"]
    assert shout["reply_broadcast"] in (True, "true", "1", 1)
    for user in (APPROVER, BOSS):  # the group's member and the named user
        assert buttons(world.judgment_message(user))
    assert world.services.metrics.registry.get_sample_value(
        "relay_judgment_reminders_total", {"kind": "direct_message"}) == 2


def test_judgment_clicked_in_a_direct_message_updates_every_copy(world: World) -> None:
    world.start_judgment()
    wait(world, 2 * HOUR)
    direct, stale = world.judgment_message(BOSS), world.judgment_message(APPROVER)

    world.click(direct, "judgment.choose.1", user=BOSS)
    world.drain()
    world.click(stale, "judgment.choose.0", user=APPROVER)  # a copy as it was before: first click won
    world.drain()

    assert len(world.gate.calls_to("judge")) == 1
    assert [j.status for j in world.judgments()][0] == DECIDED
    for channel in (JUDGMENT_CHANNEL, APPROVER, BOSS):
        shown = world.judgment_message(channel)
        assert buttons(shown) == []
        assert f"<@{BOSS}> approved" in text_of(shown)
    (note,) = world.told(APPROVER)
    assert note.startswith("Nothing to do") and "approved" not in note


def test_judgment_escalation_survives_a_failing_user_group_lookup(world: World) -> None:
    world.slack.fail_next("usergroups.users.list", error="fatal_error", count=3)
    world.start_judgment()
    wait(world, 2 * HOUR)

    assert len(posted(world, "rotating_light")) == 1  # the channel is told at once
    assert buttons(world.judgment_message(BOSS))
    assert world.store.message(f"{RUN_ID}/{STAGE_ID}@{APPROVER}") is None

    wait(world, 30 * MINUTE)

    assert buttons(world.judgment_message(APPROVER))  # the direct message, once the group could be read
    assert len(posted(world, "rotating_light")) == 1
    assert world.store.timer(f"{RUN_ID}/{STAGE_ID}").dms_pending is False


def test_judgment_timer_escalates_once_across_two_replicas_and_a_restart(world: World) -> None:
    world.start_judgment()
    other = world.services.dispatcher(worker_id="replica-2")
    world.clock.advance(2 * HOUR)
    (job,) = world.store.lease_jobs(worker="crashed", now=world.clock(), lease=60.0)  # dies holding it
    world.clock.advance(61)  # its lease runs out
    for _ in range(5):
        other.run_once()
        world.dispatcher.run_once()
    world.drain()
    world.services.handlers.run_job(world.services, job)  # the crashed run resumes late
    world.drain()
    wait(world, HOUR)

    assert len(posted(world, "rotating_light")) == 1
    assert len([c for c in world.slack.calls_to("chat.postMessage")
                if c.params.get("channel") == BOSS]) == 1
