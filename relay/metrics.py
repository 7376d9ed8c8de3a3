"""Prometheus metrics the relay exports; label values are bounded so input cannot grow them.

Counters and histograms live in each process. Under Gunicorn, `PROMETHEUS_MULTIPROC_DIR` makes every
worker (and a dispatcher started beside them) write them to files there, and a scrape adds them up. Queue
gauges are read from the database at scrape time, so every replica reports the same shared queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from relay.store import Store

log = logging.getLogger(__name__)

KNOWN_KINDS = ("pipeline", "orchestration", "stage", "task")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CALL_OUTCOMES = ("ok", "error", "rate_limited")
JUDGMENT_WAIT_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
                         259200.0)
WAIT_OUTCOMES = ("continued", "stopped", "expired", "canceled", "ended")
REMINDER_KINDS = ("reminder", "escalation", "direct_message")
LANE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The relay's counters and histograms, on their own registry so tests and apps do not share state.

    Other modules report through the methods below, never through the metric objects."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter("relay_events_total", "Echo events received, by type and outcome",
                              ["type", "outcome"], registry=self.registry)
        self.notifications_queued = Counter("relay_notifications_queued_total",
                                            "Slack deliveries queued for accepted events",
                                            registry=self.registry)
        self.addresses = Counter("relay_addresses_refused_total",
                                 "Addresses events named that were not notified, by reason "
                                 "(overLimit, notAllowed)",
                                 ["reason"], registry=self.registry)
        self.deliveries = Counter("relay_deliveries_total",
                                  "Delivery attempts by message template and result "
                                  "(sent, dry_run, retry, rate_limited, failed)",
                                  ["template", "result"], registry=self.registry)
        self.slack_calls = Histogram("relay_slack_call_seconds", "Slack Web API calls by method and outcome",
                                     ["method", "outcome"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.gate_calls = Histogram("relay_gate_call_seconds", "Gate API calls by operation and outcome",
                                    ["operation", "outcome"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rate_limits = Counter("relay_rate_limited_total", "429 answers, by the service that sent them",
                                   ["service"], registry=self.registry)
        self.errors = Counter("relay_errors_total", "Errors, by where they happened (http, slack, gate, "
                              "database)", ["component"], registry=self.registry)
        self.judgments = Counter("relay_judgments_total", "Manual Judgment clicks, by outcome",
                                 ["outcome"], registry=self.registry)
        self.judgment_waits = Histogram("relay_judgment_wait_seconds",
                                        "How long Manual Judgments waited, from the stage's start to a "
                                        "decision or expiry, by application and outcome",
                                        ["application", "outcome"], buckets=JUDGMENT_WAIT_BUCKETS,
                                        registry=self.registry)
        self.judgment_reminders = Counter("relay_judgment_reminders_total",
                                          "Reminders of waiting judgments sent, by kind (reminder, "
                                          "escalation, direct_message)", ["kind"], registry=self.registry)
        # Summed over live processes under PROMETHEUS_MULTIPROC_DIR: the busy threads of every worker.
        self.lane_threads = Gauge("relay_lane_threads", "Threads of the worker lanes, by lane", ["lane"],
                                  multiprocess_mode="livesum", registry=self.registry)
        self.lane_busy = Gauge("relay_lane_busy", "Threads of the worker lanes busy with a delivery or a "
                               "job, by lane", ["lane"], multiprocess_mode="livesum", registry=self.registry)
        self.lane_wait = Histogram("relay_lane_wait_seconds", "From a delivery or job being due (a "
                                   "delivery's channel pacing included) until a thread starts it, by lane",
                                   ["lane"], buckets=LANE_WAIT_BUCKETS, registry=self.registry)
        self.requests = Histogram("relay_http_request_seconds", "HTTP requests by route, method and status",
                                  ["route", "method", "status"], buckets=LATENCY_BUCKETS,
                                  registry=self.registry)
        # The labelled children of the two metrics counted on every request, by their (bounded) labels.
        self._event_counters: dict[tuple[str, str], Counter] = {}
        self._request_histograms: dict[tuple[str, str, int], Histogram] = {}

    def event(self, event_type: str, outcome: str) -> None:
        key = (_bounded_type(event_type), outcome)
        counter = self._event_counters.get(key)
        if counter is None:  # labels() takes a lock and builds the key on every call: once per key here
            counter = self._event_counters[key] = self.events.labels(type=key[0], outcome=outcome)
        counter.inc()

    def queued(self, count: int) -> None:
        """Deliveries planned for one accepted event."""
        self.notifications_queued.inc(count)

    def addresses_refused(self, refused: dict[str, list[str]]) -> None:
        """Addresses one event named that were not notified, by reason."""
        for reason, addresses in refused.items():
            self.addresses.labels(reason=reason).inc(len(addresses))

    def delivery(self, template: str, result: str) -> None:
        self.deliveries.labels(template=template, result=result).inc()

    def slack_call(self, method: str, seconds: float, outcome: str) -> None:
        """One Web API call (`method` as in `chat.postMessage`); outcome is one of CALL_OUTCOMES."""
        self._call(self.slack_calls, "slack", {"method": method}, seconds, outcome)

    def gate_call(self, operation: str, seconds: float, outcome: str) -> None:
        """One Gate call, named by a fixed operation (e.g. `get_execution`, `judge`); see CALL_OUTCOMES."""
        self._call(self.gate_calls, "gate", {"operation": operation}, seconds, outcome)

    def judgment_wait(self, application: str | None, outcome: str, seconds: float) -> None:
        """A judgment's wait ended (`outcome` one of WAIT_OUTCOMES) after `seconds`."""
        label = outcome if outcome in WAIT_OUTCOMES else "ended"
        self.judgment_waits.labels(application=(application or "unknown")[:100], outcome=label) \
            .observe(max(0.0, seconds))

    def judgment_reminder(self, kind: str, count: int = 1) -> None:
        """`count` reminders of one of REMINDER_KINDS were queued."""
        if count:
            self.judgment_reminders.labels(kind=kind if kind in REMINDER_KINDS else "reminder").inc(count)

    def gate_answer(self, operation: str, seconds: float, status: int | None) -> None:
        """One Gate call by its HTTP status (None: no answer): 429 is rate_limited, a 4xx or 5xx an error."""
        outcome = "ok" if status is not None and status < 400 else \
            "rate_limited" if status == 429 else "error"
        self.gate_call(operation, seconds, outcome)

    def lane_opened(self, lane: str, threads: int) -> None:
        self.lane_threads.labels(lane=lane).set(threads)

    def lane_started(self, lane: str, waited: float) -> None:
        """A thread of `lane` took a delivery or job that had been due for `waited` seconds."""
        self.lane_busy.labels(lane=lane).inc()
        self.lane_wait.labels(lane=lane).observe(max(0.0, waited))

    def lane_finished(self, lane: str) -> None:
        self.lane_busy.labels(lane=lane).dec()

    def judgment(self, outcome: str) -> None:
        """One judgment click, by the status it ended in (`decided`, `refused`, `lost`, `stale`…)."""
        self.judgments.labels(outcome=outcome).inc()

    def error(self, component: str) -> None:
        self.errors.labels(component=component).inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request; `route` is the matched URL rule, never the raw path."""
        key = (route, method if method in HTTP_METHODS else "other", status)
        histogram = self._request_histograms.get(key)
        if histogram is None:
            histogram = self._request_histograms[key] = self.requests.labels(route=key[0], method=key[1],
                                                                             status=str(status))
        histogram.observe(seconds)
        if status >= 500:
            self.error("http")

    def _call(self, histogram: Histogram, service: str, labels: dict[str, str], seconds: float,
              outcome: str) -> None:
        if outcome not in CALL_OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}")
        histogram.labels(**labels, outcome=outcome).observe(seconds)
        if outcome == "rate_limited":
            self.rate_limits.labels(service=service).inc()
        elif outcome == "error":
            self.error(service)

    def exposition(self, store: Store, *, multiprocess_dir: str | None) -> tuple[bytes, str]:
        """The text a scrape gets: this process's metrics, or all processes' with a multiprocess
        directory, plus the queue read from the store now."""
        registry = CollectorRegistry()
        # First, so that a database error it counts is in this very scrape.
        registry.register(QueueCollector(store, on_error=lambda: self.error("database")))
        if multiprocess_dir:
            MultiProcessCollector(registry, path=multiprocess_dir)
        else:
            registry.register(self.registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class QueueCollector:
    """Gauges computed from the store at scrape time: the outbox's depth by status and its oldest unfinished
    age, and how long due work has waited for a thread in each lane."""

    def __init__(self, store: Store, *, on_error: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.on_error = on_error
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("relay_database_up", "Whether the last scrape could read the database")
        try:
            now = self.clock()
            stats, due = self.store.queue_stats(), self.store.due_since(now)
        except SQLAlchemyError as err:
            log.warning("metrics could not read the queue: %s", type(err).__name__)
            self.on_error()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("relay_queue_depth", "Deliveries not finished yet, by status",
                                  labels=["status"])
        for status, count in sorted(stats.depth.items()):
            depth.add_metric([status], count)
        yield depth
        age = 0.0 if stats.oldest_created_at is None else max(0.0, now - stats.oldest_created_at)
        yield GaugeMetricFamily("relay_queue_oldest_age_seconds",
                                "Seconds since the oldest unfinished delivery was queued (0 when none)",
                                value=age)
        waiting = GaugeMetricFamily("relay_lane_queue_age_seconds",
                                    "Seconds the oldest delivery or job a free thread could start now has "
                                    "been due, by lane (0 when none)", labels=["lane"])
        for lane, since in sorted(due.items()):
            waiting.add_metric([lane], 0.0 if since is None else max(0.0, now - since))
        yield waiting


def reset_multiprocess_dir(path: str | None) -> None:
    """Create the directory, or remove the previous run's metric files from it, so counters start from
    zero with a new server."""
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        for stale in Path(path).glob("*.db"):
            stale.unlink()


def _bounded_type(event_type: str) -> str:
    parts = event_type.split(":")
    if len(parts) == 3 and parts[0] == "orca" and parts[1] in KNOWN_KINDS:
        return event_type if parts[2] in ("starting", "complete", "failed", "skipped") else "orca:other"
    return "other"
