"""Blueprint for the web console at /console: waiting judgments, the decisions audit trail (and its CSV),
failed and stuck deliveries with Retry for operators, and wait-time analytics. Registered only when
RELAY_CONSOLE_AUTH turns it on; every request is let in by relay/web/console_auth.py first."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterator

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from markupsafe import Markup

from relay.config import Settings
from relay.spinnaker.judgment_stage import span
from relay.web import console_api
from relay.web import console_pages as pages
from relay.web.console_auth import (
    CSRF_FIELD,
    ConsoleSessionInterface,
    Refused,
    admit,
    challenge,
    csrf_token,
    secure,
)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")
log = logging.getLogger(__name__)
CONSOLE_PATHS = ("/console", "/api/v1")
CSV_COLUMNS = ("id", "received_at_utc", "application", "pipeline", "stage", "execution_id", "approver",
               "decision", "input", "outcome", "reason", "waited_seconds", "detail")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def register(app: Flask, settings: Settings) -> None:
    """Serve the console and its JSON API, with a signed session cookie and the security headers."""
    app.secret_key = settings.console_secret
    app.session_interface = ConsoleSessionInterface()
    app.config.update(SESSION_COOKIE_NAME="relay_console", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    app.register_blueprint(bp)
    app.register_blueprint(console_api.bp)
    if settings.console_auth == "oidc":
        from relay.web.console_oidc import init_oidc  # Authlib is needed only for OIDC

        init_oidc(app, settings)

    @app.after_request
    def _secure_console(response: Response) -> Response:
        return secure(response) if request.path.startswith(CONSOLE_PATHS) else response


@bp.before_request
def _admit() -> None:
    if request.endpoint != "console.static":
        admit()


@bp.errorhandler(Refused)
def _refused(err: Refused):
    settings = current_app.extensions["relay"].settings
    if err.sign_in and request.method == "GET":
        return redirect(url_for("console_oidc.login", next=request.full_path.rstrip("?")))
    response = current_app.make_response((render_template("console/refused.html", message=err.message,
                                                          identity=None), err.status))
    return challenge(response, err, settings)


@bp.errorhandler(pages.BadFilter)
def _bad_filter(err: pages.BadFilter):
    return render_template("console/refused.html", message=str(err), identity=g.get("console_identity")), 400


@bp.context_processor
def _page_context() -> dict:
    return {"identity": g.get("console_identity"), "csrf_token": csrf_token, "csrf_field": CSRF_FIELD,
            "auth_mode": current_app.extensions["relay"].settings.console_auth}


@bp.app_template_filter("utc")
def _utc(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch)) if epoch else ""


@bp.app_template_filter("span")
def _span(seconds: float | None) -> str:
    return span(seconds) if seconds is not None else ""


@bp.get("/")
def index():
    return redirect(url_for(".waiting_page"))


@bp.get("/waiting")
def waiting_page():
    services = current_app.extensions["relay"]
    return render_template("console/waiting.html", **pages.waiting(services, now=services.clock()))


@bp.get("/decisions")
def decisions_page():
    services = current_app.extensions["relay"]
    where = pages.judgment_filter(request.args)
    data = pages.decisions(services, where, before=pages.cursor(request.args))
    filters = {name: request.args[name] for name in pages.FILTER_FIELDS if request.args.get(name)}
    older = url_for(".decisions_page", **filters, before=data["next_before"]) if data["next_before"] else None
    return render_template("console/decisions.html", **data, filters=filters, outcomes=pages.OUTCOMES,
                           older_url=older, csv_url=url_for(".decisions_csv", **filters),
                           first_page=pages.cursor(request.args) is None)


@bp.get("/decisions.csv")
def decisions_csv():
    """Every judgment the filter matches, newest first, streamed as it is read."""
    services = current_app.extensions["relay"]
    where = pages.judgment_filter(request.args)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for count, row in enumerate(services.store.iter_judgments(where), start=1):
            shown = pages.decision_row(services, row)
            writer.writerow([_cell(value) for value in (
                shown["id"], _utc(shown["received_at"]), shown["application"], shown["pipeline"],
                shown["stage"], shown["execution_id"], shown["approver"], shown["decision"], shown["input"],
                shown["outcome"], shown["reason"], _seconds(shown["waited_seconds"]), shown["detail"])])
            if count % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="judgments.csv"'})


@bp.get("/deliveries")
def deliveries_page():
    services = current_app.extensions["relay"]
    data = pages.deliveries(services, now=services.clock(), before=pages.cursor(request.args))
    older = url_for(".deliveries_page", before=data["next_before"]) if data["next_before"] else None
    return render_template("console/deliveries.html", **data, older_url=older)


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int):
    """Queue a failed delivery again (operators only)."""
    identity = g.console_identity
    if not identity.operator:
        raise Refused(403, "only operators may retry deliveries")
    services = current_app.extensions["relay"]
    if services.store.retry_delivery(delivery_id, now=services.clock()):
        log.info("console: %s queued delivery %d again", identity.name, delivery_id)
        flash(f"Delivery {delivery_id} is queued again.")
    else:
        flash(f"Delivery {delivery_id} is not a failed delivery; nothing was queued.")
    return redirect(url_for(".deliveries_page"))


@bp.get("/analytics")
def analytics_page():
    services = current_app.extensions["relay"]
    window = request.args.get("window", pages.DEFAULT_WINDOW)
    data = pages.stats(services, window=window, now=services.clock())
    return render_template("console/analytics.html", **{**data, "chart": Markup(data["chart"])},
                           windows=list(pages.WINDOWS))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for(".waiting_page"))


def _cell(value: object) -> str:
    """A CSV cell no spreadsheet runs as a formula (text from Slack could start with `=`)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _seconds(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else ""
