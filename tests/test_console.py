"""The web console through Flask's test client: off unless configured, who gets in (HTTP Basic, an auth
proxy's headers, roles), CSRF, security headers, each page's content and filters, the CSV export, the JSON
API and Retry; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from relay.app import create_app
from relay.config import Settings
from relay.services import Services
from relay.store import FAILED, PENDING, Store
from tests.console_world import (
    FAILED_ERROR,
    NOW,
    PASSWORDS,
    WAITING_EXECUTION,
    console_services,
    console_settings,
    seed,
    timer_values,
)

PAGES = ("/console/waiting", "/console/decisions", "/console/deliveries", "/console/analytics")
APIS = ("/api/v1/judgments", "/api/v1/judgments?state=waiting", "/api/v1/deliveries", "/api/v1/stats")


@dataclass
class Console:
    client: FlaskClient
    store: Store
    ids: dict


def basic(name: str, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password or PASSWORDS[name]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def console_client(migrated_store: Store, **overrides) -> FlaskClient:
    settings = console_settings(str(migrated_store.engine.url.render_as_string(hide_password=False)),
                                **overrides)
    return create_app(services=console_services(settings, migrated_store), announce=False).test_client()


@pytest.fixture
def console(migrated_store: Store) -> Iterator[Console]:
    ids = seed(migrated_store)
    yield Console(console_client(migrated_store), migrated_store, ids)


@pytest.fixture
def quick_console(tmp_path) -> Iterator[Console]:
    """The console on a SQLite file, for what does not depend on the database (who gets in, headers)."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    store.create_schema()
    ids = seed(store)
    yield Console(console_client(store), store, ids)
    store.engine.dispose()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def delivery_status(store: Store, delivery_id: int) -> str:
    [row] = [row for row in store.list_deliveries(limit=100) if row["id"] == delivery_id]
    return row["status"]


@pytest.mark.parametrize("path", [*PAGES, *APIS, "/console/"])
def test_console_is_not_served_unless_configured(path: str, tmp_path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    store.create_schema()
    app = create_app(services=Services(settings=Settings(), store=store, poster=None), announce=False)
    assert app.test_client().get(path, headers=basic("olga")).status_code == 404
    store.engine.dispose()


@pytest.mark.parametrize("path", [*PAGES, *APIS])
@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), (basic("olga", "not-olgas-password"), 401), (basic("mallory", "any-password-at-all"), 401),
    (basic("nora"), 403), ({"Authorization": "Bearer olga-operator-password"}, 401)])
def test_console_basic_refuses_who_is_not_let_in(quick_console: Console, path: str, headers: dict,
                                                  status: int) -> None:
    console = quick_console
    answer = console.client.get(path, headers=headers)
    assert answer.status_code == status
    assert WAITING_EXECUTION not in answer.get_data(as_text=True)
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("path", [*PAGES, *APIS, "/console/decisions.csv", "/console/no-such-page",
                                  "/console/static/console/console.css"])
@pytest.mark.parametrize("who", ["olga", None])
def test_console_answers_carry_the_security_headers(quick_console: Console, path: str,
                                                    who: str | None) -> None:
    console = quick_console
    with console.client.get(path, headers=basic(who) if who else {}) as answer:
        csp = answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("path", PAGES)
def test_console_pages_have_no_inline_script_or_style(quick_console: Console, path: str) -> None:
    console = quick_console
    html = console.client.get(path, headers=basic("vic")).get_data(as_text=True)
    assert "<script" not in html and " style=" not in html and "<style" not in html
    assert 'href="/console/static/console/console.css"' in html


def test_console_static_stylesheet_is_served_by_the_relay(quick_console: Console) -> None:
    console = quick_console
    with console.client.get("/console/static/console/console.css") as answer:
        assert answer.status_code == 200 and answer.mimetype == "text/css"


def test_console_waiting_shows_the_judgment_with_who_may_decide_and_its_links(console: Console) -> None:
    html = console.client.get("/console/waiting", headers=basic("vic")).get_data(as_text=True)
    [row] = re.findall(r"<tr>\s*<td>payments</td>.*?</tr>", html, re.S)
    assert "deploy-prod" in row and "Approve production" in row
    assert "2 h" in row  # waited
    assert "alice@example.com, group S0RELEASE; not whoever started the run" in row
    assert 'href="https://acme.slack.com/archives/C0DEPLOYS/p1779992800000100"' in row
    assert (f'href="https://spinnaker.example.com/#/applications/payments/executions/details/'
            f'{WAITING_EXECUTION}"') in row


def test_console_waiting_links_to_the_channel_without_a_workspace_url(migrated_store: Store) -> None:
    seed(migrated_store)
    client = console_client(migrated_store, slack_workspace_url=None)
    [row] = client.get("/api/v1/judgments?state=waiting", headers=basic("vic")).json["waiting"]
    assert row["slack"] == [{"address": "#deploys", "url": "https://slack.com/app_redirect?channel=C0DEPLOYS"}]


@pytest.mark.parametrize(("query", "approvers"), [
    ("", ["alice@example.com", "mallory@example.com", "bob@example.com", "alice@example.com"]),
    ("application=checkout", ["mallory@example.com", "alice@example.com"]),
    ("approver=alice@example.com", ["alice@example.com", "alice@example.com"]),
    ("approver=UBOB", ["bob@example.com"]),
    ("outcome=approved", ["alice@example.com", "alice@example.com"]),
    ("outcome=rejected", ["bob@example.com"]),
    ("outcome=refused", ["mallory@example.com"]),
    ("pipeline=deploy-prod&application=payments", ["alice@example.com", "bob@example.com"]),
    ("pipeline=deploy-staging", []),
    ("from=2026-05-07&to=2026-05-14", ["mallory@example.com", "bob@example.com"]),
    ("to=2026-05-07", ["alice@example.com", "mallory@example.com"]),
])
def test_console_decisions_filter_the_audit_trail(console: Console, query: str,
                                                  approvers: list[str]) -> None:
    answer = console.client.get(f"/api/v1/judgments?{query}", headers=basic("vic"))
    assert [row["approver"] for row in answer.json["judgments"]] == approvers
    html = console.client.get(f"/console/decisions?{query}", headers=basic("vic")).get_data(as_text=True)
    assert len(re.findall(r'class="outcome outcome-', html)) == len(approvers)


def test_console_decisions_show_outcome_reason_and_wait(console: Console) -> None:
    rows = console.client.get("/api/v1/judgments?outcome=rejected", headers=basic("vic")).json["judgments"]
    [row] = rows
    assert (row["outcome"], row["decision"], row["pipeline"], row["stage"]) == (
        "rejected", "stop", "deploy-prod", "Approve")
    assert row["reason"] == '=HYPERLINK("x")'
    assert row["waited_seconds"] == 2 * 3600 + 60
    assert row["slack_url"] == "https://acme.slack.com/archives/C0DEPLOYS/p1779992800000100"


@pytest.mark.parametrize("query", ["outcome=maybe", "from=yesterday", "to=2026-13-01", "before=abc",
                                   "state=everything"])
def test_console_decisions_refuse_a_filter_they_cannot_apply(quick_console: Console, query: str) -> None:
    console = quick_console
    assert console.client.get(f"/api/v1/judgments?{query}", headers=basic("vic")).status_code == 400
    if not query.startswith("state"):
        assert console.client.get(f"/console/decisions?{query}", headers=basic("vic")).status_code == 400


def test_console_decisions_page_through_the_trail_with_a_cursor(console: Console) -> None:
    for n in range(60):
        console.store.record_judgment({"execution_id": f"01HMANY{n:02}", "stage_id": "mj", "address": "#d",
                                       "decision": "continue", "user_id": "UMANY", "status": "received"},
                                      now=NOW - n, job_kind="judgment")
    first = console.client.get("/api/v1/judgments?approver=UMANY", headers=basic("vic")).json
    assert len(first["judgments"]) == 50
    second = console.client.get(f"/api/v1/judgments?approver=UMANY&before={first['next_before']}",
                                headers=basic("vic")).json
    assert len(second["judgments"]) == 10 and second["next_before"] is None
    seen = [row["execution_id"] for row in first["judgments"] + second["judgments"]]
    assert seen == [f"01HMANY{n:02}" for n in range(59, -1, -1)]
    html = console.client.get("/console/decisions?approver=UMANY",
                              headers=basic("vic")).get_data(as_text=True)
    assert f'href="/console/decisions?approver=UMANY&amp;before={first["next_before"]}"' in html


def test_console_decisions_export_the_filtered_trail_as_csv(console: Console) -> None:
    answer = console.client.get("/console/decisions.csv?application=payments", headers=basic("vic"))
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [(row["approver"], row["outcome"]) for row in rows] == [
        ("alice@example.com", "approved"), ("bob@example.com", "rejected")]
    assert rows[1]["reason"] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it, and runs nothing
    assert rows[0]["received_at_utc"].endswith("UTC") and rows[0]["pipeline"] == "deploy-prod"


def test_console_deliveries_show_failed_and_stuck_with_the_outbox_depth(console: Console) -> None:
    data = console.client.get("/api/v1/deliveries", headers=basic("vic")).json
    [failed] = data["failed"]
    assert (failed["id"], failed["error"], failed["attempts"]) == (console.ids["failed"], FAILED_ERROR, 12)
    assert [row["id"] for row in data["stuck"]] == [console.ids["stuck"]]
    assert data["outbox"]["depth"]["pending"] == 1 and data["outbox"]["total"] == 1
    assert data["outbox"]["oldest_age_seconds"] == 86400
    html = console.client.get("/console/deliveries", headers=basic("vic")).get_data(as_text=True)
    assert FAILED_ERROR in html


def test_console_operator_retries_a_failed_delivery(console: Console) -> None:
    html = console.client.get("/console/deliveries", headers=basic("olga")).get_data(as_text=True)
    assert "Retry" in html
    answer = console.client.post(f"/console/deliveries/{console.ids['failed']}/retry",
                                 data={"csrf_token": csrf_of(html)}, headers=basic("olga"),
                                 follow_redirects=True)
    assert answer.status_code == 200
    assert f"Delivery {console.ids['failed']} is queued again." in answer.get_data(as_text=True)
    assert delivery_status(console.store, console.ids["failed"]) == PENDING


def test_console_retry_of_a_delivery_that_has_not_failed_changes_nothing(console: Console) -> None:
    html = console.client.get("/console/deliveries", headers=basic("olga")).get_data(as_text=True)
    answer = console.client.post(f"/console/deliveries/{console.ids['stuck']}/retry",
                                 data={"csrf_token": csrf_of(html)}, headers=basic("olga"),
                                 follow_redirects=True)
    assert "is not a failed delivery" in answer.get_data(as_text=True)
    assert delivery_status(console.store, console.ids["stuck"]) == PENDING


def test_console_viewer_cannot_retry(console: Console) -> None:
    html = console.client.get("/console/deliveries", headers=basic("vic")).get_data(as_text=True)
    assert "Retry" not in html
    olga_page = console_client(console.store).get("/console/deliveries", headers=basic("olga"))
    answer = console.client.post(f"/console/deliveries/{console.ids['failed']}/retry",
                                 data={"csrf_token": csrf_of(olga_page.get_data(as_text=True))},
                                 headers=basic("vic"))
    assert answer.status_code == 403
    assert delivery_status(console.store, console.ids["failed"]) == FAILED


@pytest.mark.parametrize("token", [None, "", "forged-token-of-someone-else"])
def test_console_post_without_the_sessions_csrf_token_is_refused(console: Console, token: str | None) -> None:
    console.client.get("/console/deliveries", headers=basic("olga"))  # the session has a token now
    data = {} if token is None else {"csrf_token": token}
    answer = console.client.post(f"/console/deliveries/{console.ids['failed']}/retry", data=data,
                                 headers=basic("olga"))
    assert answer.status_code == 403
    assert "CSRF" in answer.get_data(as_text=True)
    assert delivery_status(console.store, console.ids["failed"]) == FAILED


@pytest.mark.parametrize(("base_url", "secure"), [("http://localhost", False), ("https://localhost", True)])
def test_console_session_cookie_is_signed_httponly_lax_and_secure_over_https(
        quick_console: Console, base_url: str, secure: bool) -> None:
    console = quick_console
    answer = console.client.get("/console/deliveries", headers=basic("olga"), base_url=base_url)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("relay_console=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


@pytest.mark.parametrize(("peer", "headers", "status", "role"), [
    ("127.0.0.1", {"X-Forwarded-User": "olga", "X-Forwarded-Email": "olga@example.com"}, 200, "operator"),
    ("127.0.0.1", {"X-Auth-Request-Email": "olga@example.com"}, 200, "operator"),
    ("127.0.0.1", {"X-Forwarded-User": "ron", "X-Forwarded-Groups": "staff,release-viewers"}, 200, "viewer"),
    ("127.0.0.1", {"X-Forwarded-User": "ron", "X-Forwarded-Groups": "staff"}, 403, None),
    ("127.0.0.1", {}, 401, None),
    ("10.0.0.9", {"X-Forwarded-User": "olga", "X-Forwarded-Email": "olga@example.com"}, 403, None),
])
def test_console_proxy_headers_count_only_from_the_proxy(quick_console: Console, peer: str, headers: dict,
                                                         status: int, role: str | None) -> None:
    client = console_client(quick_console.store, console_auth="proxy")
    answer = client.get("/console/waiting", headers=headers, environ_base={"REMOTE_ADDR": peer})
    assert answer.status_code == status
    if role:
        assert f'class="role role-{role}"' in answer.get_data(as_text=True)
    api = client.get("/api/v1/stats", headers=headers, environ_base={"REMOTE_ADDR": peer})
    assert api.status_code == status


def test_console_api_refusal_is_the_json_error_shape(quick_console: Console) -> None:
    console = quick_console
    answer = console.client.get("/api/v1/judgments")
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "unauthorized"


def test_console_stats_give_percentiles_per_application_approver_and_week(console: Console) -> None:
    data = console.client.get("/api/v1/stats?window=90d", headers=basic("vic")).json
    assert data["judgments"] == 6
    by_application = {row["name"]: row for row in data["by_application"]}
    assert by_application["payments"]["count"] == 3 and by_application["payments"]["p50"] == 4 * 3600
    assert by_application["checkout"]["p90"] == 5 * 3600
    assert {row["name"]: row["count"] for row in data["by_approver"]} == {
        "alice@example.com": 2, "bob@example.com": 2, "nobody (expired)": 2}
    assert len(data["by_week"]) == 6 and data["by_week"][0]["name"] < data["by_week"][-1]["name"]
    assert console.client.get("/api/v1/stats?window=7d", headers=basic("vic")).json["judgments"] == 1
    assert console.client.get("/api/v1/stats?window=forever", headers=basic("vic")).status_code == 400


def test_console_analytics_page_draws_the_weekly_chart(console: Console) -> None:
    html = console.client.get("/console/analytics?window=90d", headers=basic("vic")).get_data(as_text=True)
    assert html.count("<svg") == 1
    assert html.count('<polyline class="series') == 2 and html.count('<circle class="point"') == 12


def test_console_waiting_shows_the_longest_waiting_and_counts_them_all(quick_console: Console) -> None:
    for n in range(100):
        execution = f"01HMOREWAIT{n:03}"
        quick_console.store.accept_event(
            event_id=f"more-{n}", type="orca:stage:starting", application="checkout", execution_id=execution,
            drafts=[], now=NOW - n, timer=timer_values(execution, application="checkout", pipeline="p",
                                                       stage="s", started=NOW - n))
    data = quick_console.client.get("/api/v1/judgments?state=waiting", headers=basic("vic")).json
    assert data["total"] == 101 and len(data["waiting"]) == 100
    assert data["waiting"][0]["execution_id"] == WAITING_EXECUTION  # two hours: the longest
    assert data["waiting"][-1]["execution_id"] == "01HMOREWAIT001"
    html = quick_console.client.get("/console/waiting", headers=basic("vic")).get_data(as_text=True)
    assert "101, the 100 waiting longest shown" in html
