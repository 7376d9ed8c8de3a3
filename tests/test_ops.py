"""The operator endpoints: /healthz, /readyz, /metrics, and request ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from relay.app import create_app
from relay.config import Settings
from relay.metrics import Metrics
from relay.services import Services
from relay.store import Store, migrate
from relay.wiring import feature_handlers
from tests.events import execution, pipeline_event


def client_for(store: Store, **settings) -> FlaskClient:
    services = Services(handlers=feature_handlers(), settings=Settings(**settings), store=store, poster=None)
    return create_app(services=services).test_client()


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples}


@pytest.fixture
def unmigrated_store(tmp_path: Path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    yield store
    store.engine.dispose()


def test_healthz_answers_ok(migrated_store: Store) -> None:
    response = client_for(migrated_store).get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_is_ready_with_schema_at_head_in_dry_run(migrated_store: Store) -> None:
    response = client_for(migrated_store).get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "schema": "ok", "slack": "dry-run"}}


def test_readyz_reports_a_configured_slack_token(migrated_store: Store) -> None:
    client = client_for(migrated_store, slack_bot_token="xoxb-ready-bot-token",
                        echo_token="echo-secret-of-the-relay")
    assert client.get("/readyz").json["checks"]["slack"] == "token"


def test_readyz_is_unavailable_until_the_schema_is_migrated(unmigrated_store: Store) -> None:
    client = client_for(unmigrated_store)
    head = migrate.head_revision(unmigrated_store)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["schema"] == f"at none, needs {head}"
    migrate.upgrade(unmigrated_store)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_unavailable_when_the_database_is_unreachable(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing' / 'relay.sqlite3'}")
    response = client_for(store).get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable",
                             "checks": {"database": "unreachable (OperationalError)", "slack": "dry-run"}}
    store.engine.dispose()


def test_metrics_count_events_and_read_the_queue_at_scrape_time(migrated_store: Store) -> None:
    client = client_for(migrated_store)
    for run in range(3):
        event = pipeline_event("starting", execution(id=f"run-{run}"))
        assert client.post("/echo/events", json=event).status_code == 202
    assert client.post("/echo/events", json=pipeline_event("skipped")).status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    scraped = samples(response.data)
    assert scraped[("relay_events_total", (("outcome", "ignored"), ("type", "orca:pipeline:skipped")))] == 1
    assert scraped[("relay_events_total", (("outcome", "queued"), ("type", "orca:pipeline:starting")))] == 3
    assert scraped[("relay_notifications_queued_total", ())] == 3
    assert scraped[("relay_queue_depth", (("status", "pending"),))] == 3
    assert scraped[("relay_queue_depth", (("status", "sending"),))] == 0
    assert scraped[("relay_queue_oldest_age_seconds", ())] >= 0
    assert scraped[("relay_lane_queue_age_seconds", (("lane", "delivery"),))] >= 0
    assert scraped[("relay_lane_queue_age_seconds", (("lane", "job"),))] == 0
    assert scraped[("relay_database_up", ())] == 1
    route = (("method", "POST"), ("route", "/echo/events"), ("status", "202"))
    assert scraped[("relay_http_request_seconds_count", route)] == 3
    [delivery, *_] = migrated_store.lease_deliveries(worker="w", now=10**10, lease=30.0, interval=0.0)
    migrated_store.mark_sent(delivery.id, worker="w", now=10**10, ts="1.1")
    assert samples(client.get("/metrics").data)[("relay_queue_depth", (("status", "pending"),))] == 2


def test_metrics_report_an_unreadable_queue_without_failing_the_scrape(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing' / 'relay.sqlite3'}")
    response = client_for(store).get("/metrics")
    assert response.status_code == 200
    scraped = samples(response.data)
    assert scraped[("relay_database_up", ())] == 0
    assert scraped[("relay_errors_total", (("component", "database"),))] == 1
    store.engine.dispose()


def test_metrics_helpers_bound_labels_and_count_errors_and_rate_limits() -> None:
    metrics = Metrics()
    metrics.event("orca:pipeline:exploded", "ignored")
    metrics.event("igor:build:complete", "ignored")
    metrics.slack_call("chat.postMessage", 0.2, "ok")
    metrics.slack_call("chat.postMessage", 0.1, "rate_limited")
    metrics.gate_call("judge", 0.3, "error")
    metrics.judgment("continue")
    metrics.request("unmatched", "BREW", 404, 0.001)
    metrics.request("/echo/events", "POST", 500, 0.001)
    value = metrics.registry.get_sample_value
    assert value("relay_events_total", {"type": "orca:other", "outcome": "ignored"}) == 1
    assert value("relay_events_total", {"type": "other", "outcome": "ignored"}) == 1
    assert value("relay_slack_call_seconds_count", {"method": "chat.postMessage", "outcome": "ok"}) == 1
    assert value("relay_rate_limited_total", {"service": "slack"}) == 1
    assert value("relay_errors_total", {"component": "gate"}) == 1
    assert value("relay_errors_total", {"component": "http"}) == 1
    assert value("relay_judgments_total", {"outcome": "continue"}) == 1
    unmatched = {"route": "unmatched", "method": "other", "status": "404"}
    assert value("relay_http_request_seconds_count", unmatched) == 1
    with pytest.raises(ValueError, match="unknown call outcome"):
        metrics.gate_call("judge", 0.1, "exploded")


def test_request_id_is_honoured_or_made_and_returned(migrated_store: Store) -> None:
    client = client_for(migrated_store)
    honoured = client.get("/healthz", headers={"X-Request-Id": "req-42.a:b"})
    assert honoured.headers["X-Request-Id"] == "req-42.a:b"
    made = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert len(made) == 32 and made.isalnum()
    assert client.get("/no/such/path").headers["X-Request-Id"]


def test_ops_only_app_serves_operator_endpoints_and_nothing_else(migrated_store: Store) -> None:
    services = Services(handlers=feature_handlers(), settings=Settings(), store=migrated_store, poster=None)
    client = create_app(services=services, ops_only=True).test_client()
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.post("/echo/events", json=pipeline_event("starting")).status_code == 404
