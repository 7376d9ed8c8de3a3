"""Slack request signatures: slack_sdk's verifier with its 5-minute window, never raising on junk."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.signature import Clock, SignatureVerifier


class SlackVerifier:
    """Wraps slack_sdk's SignatureVerifier: 5-minute window both ways, junk headers rejected, not raised."""

    def __init__(self, signing_secret: str | None, *, clock: Clock | None = None) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=clock or Clock()) if signing_secret else None

    def is_valid(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        if self._verifier is None:
            return False
        try:
            return self._verifier.is_valid_request(raw_body, dict(headers))
        except (ValueError, TypeError):  # a non-numeric timestamp makes the SDK raise
            return False
