"""What the store's queries share: taking a lease on a queued row, and matching key prefixes."""

from __future__ import annotations

from typing import Any

from relay.store.records import SENDING


def lease_values(row: Any, *, worker: str, now: float, lease: float) -> dict[str, Any]:
    """The update that claims a delivery or job row; retaking an expired lease counts as an attempt."""
    values: dict[str, Any] = {"status": SENDING, "lease_until": now + lease, "leased_by": worker,
                              "attempts": row["attempts"]}
    if row["status"] == SENDING:
        values.update(attempts=row["attempts"] + 1,
                      last_error=f"lease of {row['leased_by']} expired mid-send")
    return values


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching `prefix` literally, with backslash as the escape character."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def due_at(row: Any) -> float:
    """When a leased row became due: its next attempt, or the end of the lease a dead worker held."""
    return row["lease_until"] if row["status"] == SENDING else row["next_attempt_at"]
