"""Slack request signatures, checked on the raw body, read within its bound, before anything parses it."""

from __future__ import annotations

from flask import request

from relay.clients.slack_signature import SlackVerifier
from relay.errors import Unauthorized
from relay.web.body import bounded_body


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
