"""The next day: a snapshot from an earlier local day is never taken for today's, and the live
count's new date is pushed to screens even when the number stays the same."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.snapshots import store
from metrics_cache.snapshots.registry import BY_NAME
from metrics_cache.snapshots.tasks import prewarm, refresh_metric
from metrics_cache.today import loop, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


@pytest.fixture
def stored_last_night(library):
    """Snapshots generated at 23:00 on the 25th; a visit typed in after that, dated the 25th."""
    library.visit("2026-11-24 10:00:00")
    with at(2026, 11, 25, 23, 0):
        call_command("prewarm", stdout=StringIO())
    library.visit("2026-11-25 23:30:00")
    return library


def weekly_tail(client) -> tuple[str, list]:
    body = client.get("/api/visitors/weekly").json()
    return body["period"]["to"], body["data"][-2:]


# 00:10 in Jakarta is still the 25th in UTC: "today" must be the library's local date.
def test_the_start_up_prewarm_recomputes_a_snapshot_from_yesterday(stored_last_night, client):
    with at(2026, 11, 26, 0, 10):
        prewarm()
        to, tail = weekly_tail(client)
    assert to == "2026-11-25"
    assert tail == [{"date": "2026-11-24", "total": 1}, {"date": "2026-11-25", "total": 1}]


def test_the_start_up_prewarm_keeps_a_snapshot_from_today(library, client):
    with at(2026, 11, 26, 0, 5):
        call_command("prewarm", "--only", "weekly", stdout=StringIO())
    library.visit("2026-11-25 12:00:00")  # would change the figure if it were recomputed
    with at(2026, 11, 26, 0, 10):
        prewarm()
        _, tail = weekly_tail(client)
    assert tail[-1] == {"date": "2026-11-25", "total": 0}


def test_after_a_flush_yesterdays_record_is_not_restored(stored_last_night, client):
    get_redis_connection("default").flushdb()
    with at(2026, 11, 26, 0, 10):
        refresh_metric("weekly")
        to, tail = weekly_tail(client)
    assert to == "2026-11-25"
    assert tail[-1] == {"date": "2026-11-25", "total": 1}


def test_after_a_flush_todays_record_is_restored(library, client):
    with at(2026, 11, 26, 0, 5):
        call_command("prewarm", "--only", "weekly", stdout=StringIO())
        served = client.get("/api/visitors/weekly").content
    get_redis_connection("default").flushdb()
    library.visit("2026-11-25 12:00:00")
    with at(2026, 11, 26, 23, 59):
        refresh_metric("weekly")
        assert client.get("/api/visitors/weekly").content == served


def test_while_redis_is_down_yesterdays_record_is_not_served(stored_last_night, client, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    caches.close_all()
    with at(2026, 11, 25, 23, 59):
        assert client.get("/api/visitors/weekly").status_code == 200
    with at(2026, 11, 26, 0, 10):
        assert client.get("/api/visitors/weekly").status_code == 202
        assert store.read_last_good(BY_NAME["weekly"]) is None


@pytest.mark.parametrize("mode", ["direct", "delta", "incremental"])
def test_the_same_count_after_midnight_is_still_pushed_with_the_new_date(library, settings, mode):
    settings.TODAY_COUNT_MODE = mode
    settings.VISITOR_SYNC_BUFFER_MS = 0
    pubsub = get_redis_connection("default").pubsub()
    pubsub.subscribe(keys.today_events_channel())
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    library.visit("2026-11-25 20:00:00")
    with at(2026, 11, 25, 23, 59, 58):
        assert loop.tick() == "ok"
    library.visit("2026-11-26 00:00:01")  # one visit before midnight, one after
    with at(2026, 11, 26, 0, 0, 3):
        assert loop.tick() == "ok"
        value = publishing.published()
    events = []
    for _ in range(10):
        message = pubsub.get_message(timeout=0.5)
        if message is None:
            break
        events.append(json.loads(message["data"]))
    pubsub.close()
    assert value["date"] == "2026-11-26" and value["total"] == 1
    assert [event["total"] for event in events] == [1, 1]
    assert events[1]["generated_at"].startswith("2026-11-26T00:00:03")
