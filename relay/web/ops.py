"""Blueprint for operators: liveness, readiness, Prometheus metrics, and one log line per request."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from relay.logs import current_request_id, request_id_from
from relay.metrics import Metrics
from relay.store import migrate

bp = Blueprint("ops", __name__)
request_log = logging.getLogger("relay.requests")
_sampled = itertools.count()  # requests asking to be sampled, in this process
LOG_ONE_IN = "relay.log_one_in"  # the WSGI environ key a view sets to sample its request lines
ROUTE = "relay.route"  # the WSGI environ key naming the route of a request answered before Flask's routing


@bp.get("/healthz")
def healthz():
    """Alive: the process answers HTTP."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready for traffic: the database answers, its schema is the one this relay needs, and Slack is either
    configured with a token or deliberately in dry-run (no token). 503 names what is missing."""
    services = current_app.extensions["relay"]
    checks = {"slack": "dry-run" if services.settings.dry_run else "token"}
    try:
        current = migrate.current_revision(services.store)
        checks["database"] = "ok"
    except SQLAlchemyError as err:
        checks["database"] = f"unreachable ({type(err).__name__})"
        return jsonify({"status": "unavailable", "checks": checks}), 503
    head = migrate.head_revision(services.store)
    checks["schema"] = "ok" if current == head else f"at {current or 'none'}, needs {head}"
    ready = current == head
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, counted across Gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set."""
    services = current_app.extensions["relay"]
    body, content_type = services.metrics.exposition(services.store,
                                                     multiprocess_dir=services.settings.metrics_dir)
    return Response(body, content_type=content_type)


def track_requests(app: Flask) -> None:
    """Give every request an id (the caller's X-Request-Id when sane), time and count it, and log it, a
    handler setting the WSGI environ's LOG_ONE_IN to log only one such request in that many. A WSGI wrapper
    rather than Flask's request hooks: this runs on every request (those answered ahead of Flask's routing,
    which name their route in ROUTE, included), and three hooks cost more than the baseline app's whole
    answer to a small event."""
    metrics = app.extensions["relay"].metrics
    inner = app.wsgi_app

    def tracked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        token = current_request_id.set(request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("X-Request-Id", request_id))
            _finished(environ, int(status[:3]), time.perf_counter() - started, metrics=metrics)
            return start_response(status, headers, exc_info)

        try:
            return inner(environ, start)
        finally:
            current_request_id.reset(token)

    app.wsgi_app = tracked  # type: ignore[method-assign]


def _route(environ: dict[str, Any]) -> str | None:
    """The route a request matched, "unmatched" for none, None when no app read it (nothing to count)."""
    if ROUTE in environ:
        return environ[ROUTE]
    # A Flask request is still in its context here: its response is being started.
    request: Request | None = environ.get("werkzeug.request")
    if request is None:
        return None
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _finished(environ: dict[str, Any], status: int, elapsed: float, *, metrics: Metrics) -> None:
    """Count the request, and log it (path without its query string, which may carry credentials)."""
    route = _route(environ)
    if route is None:
        return
    method = environ.get("REQUEST_METHOD", "")
    metrics.request(route, method, status, elapsed)
    one_in = environ.get(LOG_ONE_IN, 1)
    if (one_in > 1 and next(_sampled) % one_in) or not request_log.isEnabledFor(logging.INFO):
        return
    request = environ.get("werkzeug.request")
    path = request.path if request is not None else route
    path = path.encode("unicode_escape").decode("ascii")  # no line breaks smuggled into text logs
    remote_addr = environ.get("REMOTE_ADDR")
    fields = {"method": method, "path": path, "status": status, "duration_ms": round(elapsed * 1000, 1),
              "remote_addr": remote_addr}
    sampled = ""
    if one_in > 1:
        fields["sampled_one_in"] = one_in
        sampled = f" (1 in {one_in} logged)"
    request_log.info("%s %s %d %.1fms from %s%s", method, path, status, elapsed * 1000, remote_addr,
                     sampled, extra=fields)
