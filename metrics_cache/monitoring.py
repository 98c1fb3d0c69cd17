"""Prometheus metrics. Shared figures (snapshot ages, the fast loop) are read from Redis at
scrape time, so every web process reports the same; answers by outcome, request latency and
SSE clients are counted in the process (no Redis round trip on the request path)."""

from __future__ import annotations

import time
from datetime import datetime

from django.http import HttpResponse
from django_eventstream.views import get_listener_manager
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from metrics_cache import fanout, snapshots, today
from metrics_cache import sse as edge_stream
from metrics_cache.errors import require_safe_json
from metrics_cache.registry import METRICS

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


class SharedCollector:
    def collect(self):
        ages = GaugeMetricFamily(
            "libdash_snapshot_age_seconds", "Age of each snapshot in Redis", labels=["metric"]
        )
        loop_duration = GaugeMetricFamily(
            "libdash_fast_loop_last_duration_seconds", "Duration of the last fast-loop tick"
        )
        loop_success = GaugeMetricFamily(
            "libdash_fast_loop_last_success_timestamp_seconds", "When a tick last succeeded"
        )
        up = GaugeMetricFamily("libdash_redis_up", "1 when Redis answered this scrape")
        try:
            now = time.time()
            for metric in METRICS:
                stored = snapshots.read(metric.name)
                if stored is not None:
                    ages.add_metric([metric.name], now - stored.generated_at.timestamp())
            status = today.loop_status()
            if status["last_duration_ms"] is not None:
                loop_duration.add_metric([], status["last_duration_ms"] / 1000)
            if status["last_success_at"]:
                success = datetime.fromisoformat(status["last_success_at"]).timestamp()
                loop_success.add_metric([], success)
            up.add_metric([], 1)
        except RedisError:
            up.add_metric([], 0)
        sse = GaugeMetricFamily("libdash_sse_clients", "SSE clients connected to this process")
        manager = get_listener_manager()
        with manager.lock:
            django_clients = len(manager.listeners_by_channel.get(fanout.CHANNEL, ()))
        sse.add_metric([], django_clients + edge_stream.broadcast.clients)
        yield from (ages, loop_duration, loop_success, up, sse)


REGISTRY.register(SharedCollector())


@require_safe_json
def metrics_view(request) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


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
