"""Prometheus instruments the request path counts in the process (no Redis round trip): answers
by outcome and request latency. operations.metrics adds the shared figures at scrape time."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "libdash_request_duration_seconds",
    "Time to answer an HTTP request (this process), by route",
    ["route", "method"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


SNAPSHOT_ANSWERS = Counter(
    "libdash_snapshot_answers",
    "Snapshot answers (this process) by metric and outcome: hit, not_modified, warming",
    ["metric", "outcome"],
    registry=REGISTRY,
)


def count_outcome(metric: str, outcome: str) -> None:
    SNAPSHOT_ANSWERS.labels(metric, outcome).inc()


class RequestTimingMiddleware:
    """Observes each request's duration under its URL route (bounded label set)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match else "unmatched"
        REQUEST_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
        return response
