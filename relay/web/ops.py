"""Blueprint for operators: liveness, readiness, Prometheus metrics, and one log line per request."""

from __future__ import annotations

import itertools
import logging
import time

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from relay.logs import current_request_id, request_id_from
from relay.store import migrate

bp = Blueprint("ops", __name__)
request_log = logging.getLogger("relay.requests")
_sampled = itertools.count()  # requests asking to be sampled, in this process


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


@bp.before_app_request
def _start_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-Id"))
    g.request_id_token = current_request_id.set(g.request_id)


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    """Log the request (path without its query string, which may carry credentials) and count it; a view
    may set `g.log_one_in` to log only one such request in that many. Another hook failing first may have
    skipped `_start_request`, hence the fallbacks."""
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    method, status = request.method, response.status_code
    rule = request.url_rule
    current_app.extensions["relay"].metrics.request(rule.rule if rule is not None else "unmatched", method,
                                                    status, elapsed)
    response.headers["X-Request-Id"] = g.get("request_id") or request_id_from(None)
    one_in = g.get("log_one_in", 1)
    if (one_in > 1 and next(_sampled) % one_in) or not request_log.isEnabledFor(logging.INFO):
        return response
    path = request.path.encode("unicode_escape").decode("ascii")  # no line breaks smuggled into text logs
    fields = {"method": method, "path": path, "status": status, "duration_ms": round(elapsed * 1000, 1),
              "remote_addr": request.remote_addr}
    sampled = ""
    if one_in > 1:
        fields["sampled_one_in"] = one_in
        sampled = f" (1 in {one_in} logged)"
    request_log.info("%s %s %d %.1fms from %s%s", method, path, status, elapsed * 1000, request.remote_addr,
                     sampled, extra=fields)
    return response


@bp.teardown_app_request
def _forget_request(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        current_request_id.reset(token)
