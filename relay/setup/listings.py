"""The listings printed by `deliveries` and `judgments`: aligned columns under headers, in plain text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from relay.analytics.waits import UNKNOWN, summaries
from relay.spinnaker.judgment_stage import span
from relay.store import Judgment, Wait
from schemas.mrkdwn import plain_text


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Lines of columns padded to their widest cell; the last column is left ragged."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(row[index]) for row in [list(headers), *cells]) for index in range(len(headers) - 1)]
    lines = []
    for row in [list(headers), *cells]:
        padded = [value.ljust(width) for value, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return lines


def utc(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch else ""


def deliveries_table(rows: Iterable[dict[str, Any]]) -> list[str]:
    """One line per delivery, newest first, with why it failed or is being retried."""
    return table(
        ("ID", "CREATED (UTC)", "STATUS", "TEMPLATE", "CHANNEL", "ATTEMPTS", "LAST ERROR"),
        ((row["id"], utc(row["created_at"]), row["status"], row["template"], row["channel"], row["attempts"],
          plain_text(row["last_error"] or "")) for row in rows))


def judgments_table(rows: Iterable[Judgment]) -> list[str]:
    """One line per click on a Manual Judgment: who, what, on which run, and what Spinnaker answered."""
    return table(
        ("ID", "RECEIVED (UTC)", "STATUS", "DECISION", "BY", "APPLICATION", "EXECUTION/STAGE", "OUTCOME"),
        ((row.id, utc(row.received_at), row.status, _decision(row), row.user_email or row.user_id,
          row.application or UNKNOWN, f"{row.execution_id}/{row.stage_id}", _outcome(row)) for row in rows))


def _decision(row: Judgment) -> str:
    return f"{row.decision} [{row.judgment_input}]" if row.judgment_input else row.decision


def _outcome(row: Judgment) -> str:
    parts = [f"gate={row.gate_status}" if row.gate_status else "",
             f"stage={row.stage_status}" if row.stage_status else "",
             f"reason={json.dumps(row.reason)}" if row.reason else "",
             plain_text(row.detail or "")]
    return " ".join(part for part in parts if part)


def wait_stats(waits: Iterable[Wait]) -> list[str]:
    """How long judgments waited for a decision (p50, p90, max, with counts), per application and per
    approver; an expired judgment counts for its application and for nobody."""
    grouped = summaries(waits)
    lines: list[str] = []
    for title in ("application", "approver"):
        rows = [(s.name, s.count, span(s.p50), span(s.p90), span(s.max)) for s in grouped[title]]
        lines += [*table([title, "judgments", "p50", "p90", "max"], rows), ""]
    return lines[:-1]
