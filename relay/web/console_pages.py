"""What each console page and its JSON twin show, read from the store and the policy as plain data: waiting
judgments with who may decide and their links, the judgments audit trail by filter, failed and stuck
deliveries with the outbox's depth, and wait-time analytics."""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from relay.analytics.chart import wait_chart
from relay.analytics.waits import summaries
from relay.rules.policy import JUDGE
from relay.services import Services
from relay.spinnaker.execution import execution_link
from relay.store import JudgmentFilter, MessageRef

PAGE_SIZE = 50
WAITING_SHOWN = 100
STUCK_AFTER = 300.0  # seconds a delivery may stay due, not done, before the console calls it stuck
WINDOWS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_WINDOW = "30d"
OUTCOMES = ("approved", "rejected", "refused", "failed", "unconfirmed", "stale", "lost", "duplicate", "reset",
            "received", "claimed", "patching", "patched")
FILTER_FIELDS = ("application", "pipeline", "approver", "outcome", "from", "to")


class BadFilter(ValueError):
    """A filter the console cannot apply; the message names it."""


def slack_link(settings: Any, ref: MessageRef) -> str:
    """The message in Slack: its permalink under the workspace's URL when SLACK_WORKSPACE_URL is set, else
    Slack's redirect to the channel (which opens it in the app)."""
    if settings.slack_workspace_url:
        return f"{settings.slack_workspace_url}/archives/{quote(ref.channel)}/p{ref.ts.replace('.', '')}"
    return f"https://slack.com/app_redirect?{urlencode({'channel': ref.channel})}"


def waiting(services: Services, *, now: float) -> dict[str, Any]:
    """The judgments waiting now, longest waiting first (the first WAITING_SHOWN), and how many wait."""
    rows = services.store.waiting_judgments(limit=WAITING_SHOWN)
    found = services.store.judgment_messages([row["key"] for row in rows])
    ui_url = services.settings.spinnaker_ui_url
    result = []
    for row in rows:
        application = row["application"] or ""
        result.append({
            "execution_id": row["execution_id"], "stage_id": row["stage_id"], "application": application,
            "pipeline": row["pipeline"], "stage": row["stage_name"], "started_at": row["started_at"],
            "waited_seconds": max(0.0, now - row["started_at"]), "deadline": row["deadline"],
            "deadline_in_seconds": row["deadline"] - now, "escalated": bool(row["escalated"]),
            "deciders": services.policy.describe(JUDGE, application),
            "deck_url": execution_link(ui_url, application or "-", row["execution_id"]),
            "slack": [{"address": address, "url": slack_link(services.settings, ref)}
                      for address, ref in sorted(found.get(row["key"], {}).items())]})
    total = len(result) if len(result) < WAITING_SHOWN else services.store.waiting_count()
    return {"waiting": result, "total": total}


def judgment_filter(args: Mapping[str, str]) -> JudgmentFilter:
    """The decisions filter from query parameters (dates as YYYY-MM-DD in UTC, `to` included)."""
    values = {name: (args.get(name) or "").strip() or None for name in FILTER_FIELDS}
    if values["outcome"] and values["outcome"] not in OUTCOMES:
        raise BadFilter(f"outcome must be one of {', '.join(OUTCOMES)}")
    return JudgmentFilter(application=values["application"], pipeline=values["pipeline"],
                          approver=values["approver"], outcome=values["outcome"],
                          since=_day(values["from"], "from"),
                          until=_day(values["to"], "to", offset=86400) if values["to"] else None)


def cursor(args: Mapping[str, str]) -> int | None:
    """The `before` cursor of a page after the first: the last id of the page before."""
    before = (args.get("before") or "").strip()
    if before and not before.isdigit():
        raise BadFilter("before must be an id")
    return int(before) if before else None


def decisions(services: Services, where: JudgmentFilter, *, before: int | None) -> dict[str, Any]:
    """A page of the audit trail, newest first, and the cursor of the next (older) page."""
    rows = services.store.judgments_page(where, before=before, limit=PAGE_SIZE + 1)
    page = [decision_row(services, row) for row in rows[:PAGE_SIZE]]
    return {"judgments": page, "next_before": page[-1]["id"] if len(rows) > PAGE_SIZE else None}


def decision_row(services: Services, row: dict[str, Any]) -> dict[str, Any]:
    """One judgment as the console shows it (and exports it)."""
    application = row["application"] or ""
    slack = None
    if row["channel_id"] and row["message_ts"]:
        slack = slack_link(services.settings, MessageRef(channel=row["channel_id"], ts=row["message_ts"]))
    ended = row["finished_at"] or row["received_at"]
    return {
        "id": row["id"], "received_at": row["received_at"], "application": application,
        "pipeline": row["pipeline"], "stage": row["stage_name"] or row["stage_id"],
        "execution_id": row["execution_id"], "approver": row["user_email"] or row["user_id"],
        "decision": row["decision"], "input": row["judgment_input"], "outcome": _outcome(row),
        "reason": row["reason"], "detail": row["detail"], "gate_status": row["gate_status"],
        "waited_seconds": ended - row["waiting_since"] if row["waiting_since"] else None,
        "slack_url": slack,
        "deck_url": execution_link(services.settings.spinnaker_ui_url, application or "-",
                                   row["execution_id"]),
    }


def deliveries(services: Services, *, now: float, before: int | None = None) -> dict[str, Any]:
    """Deliveries that failed for good (a page, newest first), those stuck, and the outbox's backlog."""
    stats = services.store.queue_stats()
    failed = services.store.failed_deliveries(before=before, limit=PAGE_SIZE + 1)
    return {
        "outbox": {"depth": stats.depth, "total": sum(stats.depth.values()),
                   "oldest_age_seconds": now - stats.oldest_created_at if stats.oldest_created_at else None},
        "failed": [_delivery(row, now) for row in failed[:PAGE_SIZE]],
        "next_before": failed[PAGE_SIZE - 1]["id"] if len(failed) > PAGE_SIZE else None,
        "stuck": [_delivery(row, now) for row in services.store.stuck_deliveries(now=now, after=STUCK_AFTER)],
        "stuck_after_seconds": STUCK_AFTER,
    }


def stats(services: Services, *, window: str, now: float) -> dict[str, Any]:
    """Time to decision over the last `window` (a key of WINDOWS): p50/p90 per application, approver, week."""
    if window not in WINDOWS:
        raise BadFilter(f"window must be one of {', '.join(WINDOWS)}")
    waits = services.store.ended_waits(since=now - WINDOWS[window] * 86400)
    grouped = summaries(waits)
    return {"window": window, "judgments": len(waits), "by_application": grouped["application"],
            "by_approver": grouped["approver"], "by_week": grouped["week"],
            "chart": wait_chart(grouped["week"])}


def _delivery(row: dict[str, Any], now: float) -> dict[str, Any]:
    due = row["lease_until"] if row["status"] == "sending" else row["next_attempt_at"]
    return {"id": row["id"], "channel": row["channel"], "action": row["action"], "template": row["template"],
            "status": row["status"], "attempts": row["attempts"], "error": row["last_error"],
            "event_id": row["event_id"], "created_at": row["created_at"],
            "age_seconds": now - row["created_at"], "due_for_seconds": max(0.0, now - due) if due else None}


def _outcome(row: dict[str, Any]) -> str:
    if row["status"] == "decided":
        return "approved" if row["decision"] == "continue" else "rejected"
    return row["status"]


def _day(text: str | None, name: str, *, offset: float = 0.0) -> float | None:
    if not text:
        return None
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d")) + offset
    except ValueError:
        raise BadFilter(f"{name} must be a date like 2026-12-01") from None
