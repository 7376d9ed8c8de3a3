"""Blueprint for Echo's REST event listener: POST /echo/events (and the trailing-slash form Echo sends)."""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging

import orjson
from flask import Blueprint, Response, current_app, request

from relay.config import Settings
from relay.errors import Unauthorized
from relay.notifications.plan import receive
from relay.web.body import bounded_body, parse_json
from relay.web.ops import LOG_ONE_IN
from schemas.echo import load_event

bp = Blueprint("echo", __name__)
log = logging.getLogger(__name__)

# Of the events answered `ignored`, one request line in this many is logged (every one at DEBUG).
IGNORED_LOGGED_ONE_IN = 100


@bp.post("/echo/events")
@bp.post("/echo/events/")
def echo_events() -> tuple[Response, int]:
    """Accept one Echo event: authenticate, bound, parse, match, queue; answer fast."""
    services = current_app.extensions["relay"]
    settings: Settings = services.settings
    check_echo_auth(settings, request.headers.get("Authorization"))
    raw = bounded_body(settings.max_event_bytes, what="events", setting="RELAY_MAX_EVENT_BYTES")
    event = load_event(parse_json(raw))
    outcome = receive(event, raw, settings=settings, store=services.store, clock=services.clock)
    services.metrics.event(event.type, outcome.result)
    if outcome.notifications:
        services.metrics.queued(outcome.notifications)
    if outcome.refused:
        services.metrics.addresses_refused(outcome.refused)
    body = {"result": outcome.result, "eventId": outcome.event_id}
    if outcome.reason:
        body["reason"] = outcome.reason
    if outcome.refused:
        body["refused"] = outcome.refused
    if outcome.result == "queued":
        body["notifications"] = outcome.notifications
        return _json(body), 202
    if outcome.result == "ignored" and not log.isEnabledFor(logging.DEBUG):
        # Most events are ignored: above DEBUG, their request lines are sampled.
        request.environ[LOG_ONE_IN] = IGNORED_LOGGED_ONE_IN
    return _json(body), 200


def _json(body: dict) -> Response:
    """The answer as Flask's `jsonify` writes it (keys sorted, one line), by orjson: it is on every event."""
    return Response(orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE),
                    mimetype="application/json")


def check_echo_auth(settings: Settings, authorization: str | None) -> None:
    """HTTP Basic (Echo's username/password) or a bearer token (Echo's headers), compared in constant time.
    With neither configured (the dry-run default) the endpoint is open."""
    if not settings.echo_auth_configured:
        return
    scheme, _, credential = (authorization or "").partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    token = settings.echo_token
    if scheme == "bearer" and token and _same(credential.encode(), token.encode()):
        return
    if scheme == "basic" and settings.echo_username and _basic_matches(credential, settings):
        return
    raise Unauthorized("missing or wrong credentials for the Echo webhook")


def _basic_matches(credential: str, settings: Settings) -> bool:
    """Echo's OkHttp encodes `user:password` in ISO-8859-1, other clients in UTF-8: either is accepted."""
    try:
        given = base64.b64decode(credential, validate=True)
    except ValueError:
        return False
    pair = f"{settings.echo_username}:{settings.echo_password}"
    expected = [pair.encode("utf-8")]
    with contextlib.suppress(UnicodeEncodeError):  # a password beyond ISO-8859-1 can only come as UTF-8
        expected.append(pair.encode("latin-1"))
    return any([_same(given, candidate) for candidate in expected])  # a list: every candidate is compared


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)

