"""Serving for real: Gunicorn with deploy/gunicorn.conf.py (workers sharing metrics, JSON request lines,
a graceful stop), and a standalone worker's health and metrics server."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from relay.store import Store, migrate
from tests.events import execution, pipeline_event
from tests.processes import ROOT, Relay, free_port, http_status, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    store = Store.from_url(url)
    migrate.upgrade(store)
    store.engine.dispose()
    return url


def environment(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RELAY_DATABASE_URL": database_url, **extra}


def scrape(url: str) -> dict[str, float]:
    """Each metric family's samples added up by sample name."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=5).text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def listening_sockets(port: int) -> int:
    """The TCP sockets listening on `port` on this machine (/proc/net/tcp: state 0A is LISTEN)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


def counting_pids(metrics_dir: Path) -> set[str]:
    """The processes that wrote counters to the multiprocess directory."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}


def test_gunicorn_config_counts_metrics_across_workers_and_logs_json_lines(sqlite_url: str,
                                                                           tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from a previous run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gunicorn = Relay(["--config", str(ROOT / "deploy" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"],
                     environment(sqlite_url, RELAY_WEB_WORKERS="2", RELAY_LOG_FORMAT="json",
                                 PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
                     tmp_path / "gunicorn.log", module="gunicorn")
    try:
        wait_until(lambda: http_status(f"{url}/readyz") == 200, 30, "Gunicorn to be ready", [gunicorn])
        # Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel spreads connections.
        wait_until(lambda: listening_sockets(port) == 2, 10, "a listening socket per worker", [gunicorn])
        assert not (metrics_dir / "counter_999999.db").exists()
        events = [pipeline_event("starting", execution(id=f"01SERVE{n:04d}")) for n in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda event: requests.post(f"{url}/echo/events", json=event,
                                                                 timeout=30).status_code, events))
        assert statuses == [202] * 40
        wait_until(lambda: len(counting_pids(metrics_dir)) >= 2, 10, "both workers to count requests",
                   [gunicorn])
        totals = scrape(url)
        assert totals["relay_events_total"] == 40
        assert totals["relay_notifications_queued_total"] == 40
        assert requests.get(f"{url}/healthz", headers={"X-Request-Id": "probe-7"}, timeout=5).ok
    finally:
        assert gunicorn.stop(signal.SIGTERM) == 0
    lines = [json.loads(line) for line in gunicorn.log.read_text().splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["logger"] == "relay.requests"]
    assert len([line for line in requests_logged if line["path"] == "/echo/events"]) == 40
    assert len({line["request_id"] for line in requests_logged}) == len(requests_logged)
    assert {"path": "/healthz", "status": 200, "request_id": "probe-7"}.items() <= requests_logged[-1].items()
    assert any(line["logger"] == "gunicorn.error" and "Shutting down" in line["message"] for line in lines)


def test_worker_serves_health_and_metrics_and_stops_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = Relay(["worker", "--ops-bind", f"127.0.0.1:{port}"], environment(sqlite_url),
                   tmp_path / "worker.log")
    try:
        wait_until(lambda: http_status(f"{url}/healthz") == 200, 30, "the worker's ops server", [worker])
        assert requests.get(f"{url}/readyz", timeout=5).json()["checks"] == {
            "database": "ok", "schema": "ok", "slack": "dry-run"}
        assert scrape(url)["relay_queue_depth"] == 0
        assert http_status(f"{url}/echo/events") == 404
    finally:
        assert worker.stop(signal.SIGTERM) == 0
    assert "released 0 deliveries" in worker.log.read_text()


def test_serve_says_setup_warnings_once_and_no_control_socket(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    serve = Relay(["serve", "--bind", f"127.0.0.1:{port}", "--no-dispatcher"],
                  environment(sqlite_url, RELAY_WEB_WORKERS="3", HOME=str(tmp_path)), tmp_path / "serve.log")
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, 30, "serve to be ready",
                   [serve])
        wait_until(lambda: serve.log.read_text().count("Booting worker") == 3, 30, "three workers", [serve])
    finally:
        assert serve.stop(signal.SIGTERM) == 0
    output = serve.log.read_text()
    assert output.count("SLACK_BOT_TOKEN is not set: dry-run mode") == 1
    assert output.count("GATE_URL is not set") == 1
    assert "ontrol socket" not in output
