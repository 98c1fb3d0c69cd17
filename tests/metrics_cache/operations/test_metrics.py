"""Prometheus metrics at /metrics: snapshot answers, ages, the fast loop, SSE clients and
request durations."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from metrics_cache.today import loop
from tests.support.library import library_test


@library_test[0]
@library_test[1]
def test_prometheus_metrics(library, client, settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    loop.tick()

    def answers(metric: str, outcome: str) -> float:
        text = client.get("/metrics").content.decode()
        labels = f'metric="{metric}",outcome="{outcome}"'
        found = re.search(rf"^libdash_snapshot_answers_total\{{{labels}\}} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    hits, warming = answers("weekly", "hit"), answers("monthly", "warming")
    client.get("/api/visitors/weekly")
    client.get("/api/visitors/monthly")  # a miss: warming
    assert answers("weekly", "hit") == hits + 1
    assert answers("monthly", "warming") == warming + 1
    text = client.get("/metrics").content.decode()
    # Each library's figures carry its slug.
    weekly = r'^libdash_snapshot_age_seconds\{library="default",metric="weekly"\} [0-9.]+$'
    assert re.search(weekly, text, re.M)
    duration = r'^libdash_fast_loop_last_duration_seconds\{library="default"\} [0-9.e-]+$'
    assert re.search(duration, text, re.M)
    success = r'^libdash_fast_loop_last_success_timestamp_seconds\{library="default"\} [0-9.e+]+$'
    assert re.search(success, text, re.M)
    assert "libdash_sse_clients 0.0" in text
    assert 'libdash_request_duration_seconds_count{method="GET",route="api/visitors/weekly"}' in (
        text
    )
