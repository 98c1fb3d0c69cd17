"""/health at its thresholds: a snapshot older than 30 h is stale, a fast loop without success
for 3 intervals is behind; just inside either limit is still ok."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from metrics_cache.today import loop
from tests.support.library import library_test

pytestmark = library_test

START = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


def later(**delta) -> time_machine.travel:
    return time_machine.travel(START + timedelta(**delta), tick=False)


@pytest.fixture
def current(library, settings):
    """Every snapshot and the fast loop succeeded at START (interval 5 s: 15 s of grace)."""
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 5000
    settings.VISITOR_SYNC_BUFFER_MS = 0
    with later():
        call_command("prewarm", stdout=StringIO())
        assert loop.tick() == "ok"


def health(client) -> dict:
    response = client.get("/health")
    assert response.status_code == 200
    return response.json()


def test_a_snapshot_of_exactly_30_hours_is_not_yet_stale(current, client):
    with later(hours=30):
        loop.tick()  # the fast loop keeps running: only the snapshots age
        body = health(client)
    assert body["checks"]["snapshots"]["weekly"] == {"age_seconds": 30 * 3600, "stale": False}
    assert body["status"] == "ok", body


def test_a_snapshot_older_than_30_hours_is_stale_and_degrades(current, client):
    with later(hours=30, seconds=1):
        loop.tick()
        body = health(client)
    weekly = body["checks"]["snapshots"]["weekly"]
    assert weekly == {"age_seconds": 30 * 3600 + 1, "stale": True}
    assert all(s["stale"] for s in body["checks"]["snapshots"].values())
    assert body["status"] == "degraded"


def test_the_fast_loop_is_current_for_three_intervals(current, client):
    with later(seconds=15):
        body = health(client)
    assert body["status"] == "ok", body


def test_a_fast_loop_silent_for_more_than_three_intervals_degrades(current, client):
    with later(seconds=16):
        assert health(client)["status"] == "degraded"


def test_a_fast_loop_that_stopped_hours_ago_is_reported(current, client):
    with later(hours=3):
        body = health(client)
    loop = body["checks"]["fast_loop"]
    assert body["status"] == "degraded"
    assert datetime.fromisoformat(loop["last_run_at"]) == START
    assert not any(s["stale"] for s in body["checks"]["snapshots"].values())


def test_the_interval_sets_the_fast_loops_grace(current, client, settings):
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 60_000  # 3 minutes of grace
    with later(minutes=2, seconds=59):
        assert health(client)["status"] == "ok"
    with later(minutes=3, seconds=1):
        assert health(client)["status"] == "degraded"
