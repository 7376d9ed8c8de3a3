"""Slack request signatures, checked on the raw body before anything parses it."""

from __future__ import annotations

from flask import request

from relay.clients.slack_signature import SlackVerifier
from relay.errors import Unauthorized


def verified_body(verifier: SlackVerifier) -> bytes:
    """The request's raw body if Slack signed it; otherwise 401 with no detail."""
    raw = request.get_data(cache=True)
    if not verifier.is_valid(raw, request.headers):
        raise Unauthorized("invalid request")
    return raw
