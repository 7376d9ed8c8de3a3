"""Echo's REST event listener, POST /echo/events (and the trailing-slash form Echo sends), as a WSGI app that
answers ahead of Flask's routing: Echo posts every event of every pipeline here and waits for each answer,
most of them to say that the event notifies nobody, and Flask's request and response objects would cost
more than that whole answer."""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.wsgi import get_content_length, get_input_stream

from relay.config import Settings
from relay.errors import Unauthorized, error_answer
from relay.notifications.plan import receive
from relay.services import Services
from relay.web.body import parse_json, read_bounded
from relay.web.ops import LOG_ONE_IN, ROUTE
from schemas.echo import load_event

PATHS = frozenset({"/echo/events", "/echo/events/"})
# Of the events answered `ignored`, one request line in this many is logged (every one at DEBUG).
IGNORED_LOGGED_ONE_IN = 100
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE  # as Flask's jsonify writes it: one line

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serve_ahead(app_wsgi: WSGIApp, services: Services) -> WSGIApp:
    """`app_wsgi` with Echo's paths answered by `echo_events` before it sees them."""

    def routed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in PATHS:
            return app_wsgi(environ, start_response)
        environ[ROUTE] = path
        try:
            body, status = echo_events(environ, services)
        except Exception as err:  # noqa: BLE001 - every error becomes the relay's JSON error answer
            body, status = error_answer(err)
        answer = orjson.dumps(body, option=JSON_OPTIONS)
        start_response(STATUS_LINES[status], [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(answer)))])
        return [answer]

    return routed


def echo_events(environ: dict[str, Any], services: Services) -> tuple[dict[str, Any], int]:
    """Accept one Echo event: authenticate, bound, parse, match, queue; answer fast."""
    if environ.get("REQUEST_METHOD") != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    settings: Settings = services.settings
    check_echo_auth(settings, environ.get("HTTP_AUTHORIZATION"))
    raw = read_bounded(get_input_stream(environ), get_content_length(environ), settings.max_event_bytes,
                       what="events", setting="RELAY_MAX_EVENT_BYTES")
    event = load_event(parse_json(raw))
    outcome = receive(event, raw, settings=settings, store=services.store, clock=services.clock)
    services.metrics.event(event.type, outcome.result)
    if outcome.notifications:
        services.metrics.queued(outcome.notifications)
    if outcome.refused:
        services.metrics.addresses_refused(outcome.refused)
    body: dict[str, Any] = {"result": outcome.result, "eventId": outcome.event_id}
    if outcome.reason:
        body["reason"] = outcome.reason
    if outcome.refused:
        body["refused"] = outcome.refused
    if outcome.result == "queued":
        body["notifications"] = outcome.notifications
        return body, 202
    if outcome.result == "ignored" and not log.isEnabledFor(logging.DEBUG):
        # Most events are ignored: above DEBUG, their request lines are sampled.
        environ[LOG_ONE_IN] = IGNORED_LOGGED_ONE_IN
    return body, 200


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
