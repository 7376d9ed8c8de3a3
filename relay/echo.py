"""Blueprint for Echo's REST event listener: POST /echo/events (and the trailing-slash form Echo sends)."""

from __future__ import annotations

import base64
import hmac
import json

from flask import Blueprint, Response, current_app, jsonify, request

from relay.config import Settings
from relay.errors import BadRequest, PayloadTooLarge, Unauthorized
from relay.ingest import receive
from schemas.echo import EVENT_SCHEMA

bp = Blueprint("echo", __name__)


@bp.post("/echo/events")
@bp.post("/echo/events/")
def echo_events() -> tuple[Response, int]:
    """Accept one Echo event: authenticate, bound, parse, match, queue; answer fast."""
    services = current_app.extensions["relay"]
    settings: Settings = services.settings
    check_echo_auth(settings, request.headers.get("Authorization"))
    raw = _read_body(settings.max_event_bytes)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    event = EVENT_SCHEMA.load(document)
    outcome = receive(event, raw, settings=settings, store=services.store, clock=services.clock)
    services.metrics.event(event.type, outcome.result)
    services.metrics.queued(outcome.notifications)
    body = {"result": outcome.result, "eventId": outcome.event_id}
    if outcome.reason:
        body["reason"] = outcome.reason
    if outcome.result == "queued":
        body["notifications"] = outcome.notifications
        return jsonify(body), 202
    return jsonify(body), 200


def check_echo_auth(settings: Settings, authorization: str | None) -> None:
    """HTTP Basic (Echo's username/password) or a bearer token (Echo's headers), compared in constant time.
    With neither configured (the dry-run default) the endpoint is open."""
    if not settings.echo_auth_configured:
        return
    scheme, _, credential = (authorization or "").partition(" ")
    if settings.echo_token and scheme.lower() == "bearer" and _same(credential.strip(), settings.echo_token):
        return
    if settings.echo_username and scheme.lower() == "basic":
        expected = base64.b64encode(f"{settings.echo_username}:{settings.echo_password}".encode()).decode()
        if _same(credential.strip(), expected):
            return
    raise Unauthorized("missing or wrong credentials for the Echo webhook")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _read_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"events larger than {limit} bytes are refused (RELAY_MAX_EVENT_BYTES)")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"events larger than {limit} bytes are refused (RELAY_MAX_EVENT_BYTES)")
    return raw
