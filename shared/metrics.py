"""Prometheus metrics shared by every service (names follow Prometheus conventions).

Metrics are defined once per process with a ``service`` label, so several
services can share a process in tests. Each service adds its business counters
in its own module, on the same default registry.
"""
from __future__ import annotations

import time
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

ENTRYPOINT_LATENCY = Histogram(
    "suqiu_entrypoint_duration_seconds", "Time spent in a service entrypoint.",
    ["service", "entrypoint", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "suqiu_events_published_total", "Events the outbox relay published with a broker confirm.",
    ["service", "event_type"],
)
OUTBOX_FAILURES = Counter(
    "suqiu_outbox_publish_failures_total", "Outbox rows the broker did not take (kept for retry).",
    ["service", "event_type"],
)
OUTBOX_UNSENT = Gauge(
    "suqiu_outbox_unsent_events", "Events in the outbox not yet confirmed by the broker (read at each scrape).",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "suqiu_outbox_oldest_unsent_age_seconds",
    "Age of the oldest event in the outbox not yet confirmed by the broker; 0 when none (read at each scrape).",
    ["service"],
)
EVENTS_CONSUMED = Counter(
    "suqiu_events_consumed_total", "Events handled by a consumer, by result.",
    ["service", "queue", "result"],  # result: processed, duplicate, retried, dead_lettered
)
CONSUMER_HELD_NAME = "suqiu_consumer_messages_held"  # what scripts.client.Suqiu.quiesce reads
CONSUMER_HELD = Gauge(
    CONSUMER_HELD_NAME, "Messages a service's consumer has taken from the broker and not yet "
    "settled (waiting for a batch to fill, or in its unit of work); read at each scrape.", ["service"],
)
CONSUMER_BATCH_SIZE = Histogram(
    "suqiu_consumer_batch_size", "Messages per unit of work of a service's consumer.", ["service"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class EntrypointMetrics(DependencyProvider):
    """Times every entrypoint of the service into ``suqiu_entrypoint_duration_seconds``."""

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        worker_ctx.data["_suqiu_started"] = time.perf_counter()

    def worker_result(self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None) -> None:
        started = worker_ctx.data.pop("_suqiu_started", None)
        if started is None:
            return
        outcome = "ok" if exc_info is None else "error"
        ENTRYPOINT_LATENCY.labels(
            self.container.service_name, worker_ctx.entrypoint.method_name, outcome
        ).observe(time.perf_counter() - started)

    def get_dependency(self, worker_ctx: WorkerContext) -> None:
        return None
