"""Slack request signatures, checked on the raw body, read within its bound, before anything parses it."""

from __future__ import annotations

from collections.abc import Mapping

from flask import request
from slack_sdk.signature import Clock, SignatureVerifier

from relay.bodies import bounded_body
from relay.errors import Unauthorized


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


def slack_body(limit: int) -> bytes:
    """The raw body of a request to a Slack endpoint; 413 past `limit` bytes, before reading more."""
    return bounded_body(limit, what="Slack requests", setting="RELAY_MAX_SLACK_BYTES")


def check_signature(verifier: SlackVerifier, raw: bytes) -> None:
    """401 with no detail unless Slack signed `raw`."""
    if not verifier.is_valid(raw, request.headers):
        raise Unauthorized("invalid request")


def verified_body(verifier: SlackVerifier, *, limit: int) -> bytes:
    """The request's raw body if it is within `limit` bytes (else 413) and Slack signed it (else 401)."""
    raw = slack_body(limit)
    check_signature(verifier, raw)
    return raw
