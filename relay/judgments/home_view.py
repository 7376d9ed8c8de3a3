"""The App Home's "Your pending approvals" tab: the judgments one person may decide, each with the same
buttons as its channel message, and what the relay could not tell them. Pure: facts in, a `home` view out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.judgments.blocks import judgment_actions
from relay.spinnaker.execution import execution_link, stage_by_id
from relay.spinnaker.judgment_stage import span
from schemas.blocks import actions, context, header, section
from schemas.mrkdwn import escape, link, slack_date

TITLE = "Your pending approvals"
EMPTY = ":white_check_mark: *Nothing waits for you.* Manual Judgments you may decide show up here."
MAX_LISTED = 30  # three blocks each, within the 100 blocks of a view


@dataclass(frozen=True)
class Waiting:
    """A Manual Judgment waiting now, as Gate shows it: the run, the stage's `id`, the channel its decision is
    reported in (its message's), and when the wait started and ends (epoch seconds)."""

    execution: dict[str, Any]
    stage_id: str
    address: str
    started_at: float
    deadline: float


@dataclass(frozen=True)
class HomeFacts:
    """What one person's tab shows: the judgments they may decide, the reasons the relay could not tell for
    others, how many waiting judgments it could not read, and why (None when it read them all)."""

    listed: tuple[Waiting, ...]
    unknown: tuple[str, ...] = ()
    unread: int = 0
    unread_why: str | None = None


def home_view(facts: HomeFacts, *, ui_url: str, now: float) -> dict[str, Any]:
    """The `home` view for views.publish."""
    blocks = [header(TITLE)]
    if facts.unread:
        blocks.append(context(f":warning: {_count(facts.unread, 'waiting judgment')} left out: "
                              f"{escape(facts.unread_why or 'Spinnaker could not be read')}. This tab is "
                              "refreshed when a judgment changes."))
    for waiting in facts.listed[:MAX_LISTED]:
        blocks += _judgment_blocks(waiting, ui_url=ui_url, now=now)
    if len(facts.listed) > MAX_LISTED:
        blocks.append(context(f"…and {len(facts.listed) - MAX_LISTED} more, waiting longer than these."))
    if not facts.listed:
        blocks.append(section(EMPTY))
    if facts.unknown:
        blocks.append(context(f":grey_question: {_count(len(facts.unknown), 'more waiting judgment')} may be "
                              f"yours to decide, but the relay could not tell: {escape(facts.unknown[0])}. "
                              "They are not listed until it can."))
    blocks.append(context(f"Updated {slack_date(now)}"))
    return {"type": "home", "blocks": blocks}


def _judgment_blocks(waiting: Waiting, *, ui_url: str, now: float) -> list[dict[str, Any]]:
    run = waiting.execution
    stage = stage_by_id(run, waiting.stage_id)
    application, execution_id = str(run.get("application") or ""), str(run.get("id") or "")
    stage_url = execution_link(ui_url, application, execution_id, stage_ref=stage.get("refId"))
    run_url = execution_link(ui_url, application, execution_id)
    text = (f":hourglass_flowing_sand: *{link(stage_url, stage.get('name') or 'Manual Judgment')}* in "
            f"*{link(run_url, run.get('name') or 'pipeline')}* ({escape(application)})")
    when = (f"Waiting {span(now - waiting.started_at)} · expires {slack_date(waiting.deadline)} · "
            f"decisions are reported in {escape(waiting.address)}")
    buttons = judgment_actions(run, waiting.stage_id, channel=waiting.address)
    return [section(text), context(when), actions(list(buttons))]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
