"""Prometheus at scrape time: the shared figures (snapshot ages, the fast loop) read from Redis,
so every web process reports the same, and this process's SSE clients."""

from __future__ import annotations

import time
from datetime import datetime

from django_eventstream.views import get_listener_manager
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from config.library import all_libraries, serving
from metrics_cache.serving import fanout, stream
from metrics_cache.serving.instruments import REGISTRY
from metrics_cache.snapshots import store
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.today.loop import loop_status


def _library_figures(slug: str, ages, loop_duration, loop_success) -> None:
    now = time.time()
    for metric in METRICS:
        stored = store.read(metric.name)
        if stored is not None:
            ages.add_metric([slug, metric.name], now - stored.generated_at.timestamp())
    status = loop_status()
    if status["last_duration_ms"] is not None:
        loop_duration.add_metric([slug], status["last_duration_ms"] / 1000)
    if status["last_success_at"]:
        success = datetime.fromisoformat(status["last_success_at"]).timestamp()
        loop_success.add_metric([slug], success)


class SharedCollector:
    def collect(self):
        ages = GaugeMetricFamily(
            "libdash_snapshot_age_seconds",
            "Age of each snapshot in Redis",
            labels=["library", "metric"],
        )
        loop_duration = GaugeMetricFamily(
            "libdash_fast_loop_last_duration_seconds",
            "Duration of the last fast-loop tick",
            labels=["library"],
        )
        loop_success = GaugeMetricFamily(
            "libdash_fast_loop_last_success_timestamp_seconds",
            "When a tick last succeeded",
            labels=["library"],
        )
        up = GaugeMetricFamily("libdash_redis_up", "1 when Redis answered this scrape")
        try:
            for library in all_libraries():
                with serving(library):
                    _library_figures(library.slug, ages, loop_duration, loop_success)
            up.add_metric([], 1)
        except RedisError:
            up.add_metric([], 0)
        clients = GaugeMetricFamily("libdash_sse_clients", "SSE clients connected to this process")
        manager = get_listener_manager()
        with manager.lock:
            django_clients = sum(
                len(listeners)
                for name, listeners in manager.listeners_by_channel.items()
                if name.startswith(fanout.channel(""))
            )
        clients.add_metric([], django_clients + stream.clients())
        yield from (ages, loop_duration, loop_success, up, clients)


REGISTRY.register(SharedCollector())
