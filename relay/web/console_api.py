"""Blueprint for the console's data as JSON, for scripts: /api/v1/judgments, /api/v1/deliveries and
/api/v1/stats, let in exactly like the console's pages."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, jsonify, request

from relay.errors import error_body
from relay.web import console_pages as pages
from relay.web.console_auth import Refused, admit, challenge

bp = Blueprint("console_api", __name__, url_prefix="/api/v1")


@bp.before_request
def _admit() -> None:
    admit()


@bp.errorhandler(Refused)
def _refused(err: Refused):
    response = jsonify(error_body("unauthorized" if err.status == 401 else "forbidden", err.message))
    return challenge(response, err, current_app.extensions["relay"].settings), err.status


@bp.errorhandler(pages.BadFilter)
def _bad_filter(err: pages.BadFilter):
    return jsonify(error_body("bad_request", str(err))), 400


@bp.get("/judgments")
def judgments():
    """`?state=waiting`: the judgments waiting now; otherwise the audit trail, filtered as the Decisions page
    is (application, pipeline, approver, outcome, from, to), a page at a time (`before`: the next page's
    cursor)."""
    services = current_app.extensions["relay"]
    state = request.args.get("state", "decided")
    if state == "waiting":
        return jsonify(pages.waiting(services, now=services.clock()))
    if state != "decided":
        raise pages.BadFilter("state must be waiting or decided")
    where = pages.judgment_filter(request.args)
    return jsonify(pages.decisions(services, where, before=pages.cursor(request.args)))


@bp.get("/deliveries")
def deliveries():
    """The outbox's backlog, deliveries that failed for good (a page; `before` for the next), and those
    stuck."""
    services = current_app.extensions["relay"]
    return jsonify(pages.deliveries(services, now=services.clock(), before=pages.cursor(request.args)))


@bp.get("/stats")
def stats():
    """Time to decision, p50 / p90 / max in seconds, per application, approver and week (`window`: 7d, 30d,
    90d or 365d)."""
    services = current_app.extensions["relay"]
    window = request.args.get("window", pages.DEFAULT_WINDOW)
    data = pages.stats(services, window=window, now=services.clock())
    summaries = {key: [dataclasses.asdict(summary) for summary in data[key]]
                 for key in ("by_application", "by_approver", "by_week")}
    return jsonify({"window": data["window"], "judgments": data["judgments"], **summaries})

