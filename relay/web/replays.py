"""Each Slack request takes effect once: a signed request or Socket Mode envelope seen before is a replay."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.services import Services

SIGNATURE_WINDOW = 300.0  # how far from now Slack's signature check accepts a request's timestamp
CLOCK_SKEW = 60.0  # allowance for replicas whose clocks disagree


def first_signed(services: Services, headers: Mapping[str, str]) -> bool:
    """Whether a request whose signature was just verified is new; a replay (here or on another replica)
    is not. Remembered until the signature itself expires."""
    signature = headers.get("X-Slack-Signature", "")
    expires_at = float(headers.get("X-Slack-Request-Timestamp", "0")) + SIGNATURE_WINDOW + CLOCK_SKEW
    return _take(services, f"signature:{signature}", expires_at)


def first_envelope(services: Services, envelope_id: str) -> bool:
    """Whether a Socket Mode envelope is new; one Slack delivers again (its ack was lost) is not."""
    return _take(services, f"envelope:{envelope_id}", services.clock() + SIGNATURE_WINDOW + CLOCK_SKEW)


def _take(services: Services, identity: str, expires_at: float) -> bool:
    key = hashlib.sha256(identity.encode()).hexdigest()
    return services.store.take_slack_request(key, expires_at=expires_at, now=services.clock())
