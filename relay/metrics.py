"""Prometheus metrics the relay exports; label values are bounded so input cannot grow them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

KNOWN_KINDS = ("pipeline", "orchestration", "stage", "task")


class Metrics:
    """The relay's counters, on their own registry so tests and apps do not share state."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter("relay_events_total", "Echo events received, by type and outcome",
                              ["type", "outcome"], registry=self.registry)
        self.deliveries = Counter("relay_deliveries_total", "Delivery attempts, by message template and result",
                                  ["template", "result"], registry=self.registry)

    def event(self, event_type: str, outcome: str) -> None:
        self.events.labels(type=_bounded_type(event_type), outcome=outcome).inc()

    def delivery(self, template: str, result: str) -> None:
        self.deliveries.labels(template=template, result=result).inc()


def _bounded_type(event_type: str) -> str:
    parts = event_type.split(":")
    if len(parts) == 3 and parts[0] == "orca" and parts[1] in KNOWN_KINDS:
        return event_type if parts[2] in ("starting", "complete", "failed", "skipped") else "orca:other"
    return "other"
