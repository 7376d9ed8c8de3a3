"""Each Slack request takes effect once: a signed request or Socket Mode envelope seen before is a replay,
and an Events API event seen before (Slack retries one it thinks was missed) is a retry."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.services import Services

SIGNATURE_WINDOW = 300.0  # how far from now Slack's signature check accepts a request's timestamp
CLOCK_SKEW = 60.0  # allowance for replicas whose clocks disagree
# Slack retries an event 3 times within about 6 minutes, and hourly for a day with Delayed Events on.
EVENT_RETRY_WINDOW = 25 * 3600.0


def first_signed(services: Services, headers: Mapping[str, str]) -> bool:
    """Whether a request whose signature was just verified is new; a replay (here or on another replica)
    is not. Remembered until the signature itself expires."""
    signature = headers.get("X-Slack-Signature", "")
    expires_at = float(headers.get("X-Slack-Request-Timestamp", "0")) + SIGNATURE_WINDOW + CLOCK_SKEW
    return _take(services, f"signature:{signature}", expires_at)


def first_envelope(services: Services, envelope_id: str) -> bool:
    """Whether a Socket Mode envelope is new; one Slack delivers again (its ack was lost) is not."""
    return _take(services, f"envelope:{envelope_id}", services.clock() + SIGNATURE_WINDOW + CLOCK_SKEW)


def first_event(services: Services, event_id: str, *, job: tuple[str, dict]) -> bool:
    """Queue the job an Events API event asks for, unless the event (by its `event_id`) was taken before:
    the event and its job are recorded in one transaction, so a retry neither repeats nor loses the work."""
    return _take(services, f"event:{event_id}", services.clock() + EVENT_RETRY_WINDOW, job=job)


def _take(services: Services, identity: str, expires_at: float, *,
          job: tuple[str, dict] | None = None) -> bool:
    key = hashlib.sha256(identity.encode()).hexdigest()
    return services.store.take_slack_request(key, expires_at=expires_at, now=services.clock(), job=job)
