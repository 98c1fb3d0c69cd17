"""A snapshot served from its last good record (Redis flushed, or down) is the snapshot as it
was computed: the same bytes, the same validators and the same age; and a snapshot already
computed today is kept as it is."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django_redis import get_redis_connection

from metrics_cache.snapshots import refresh
from metrics_cache.snapshots.tasks import refresh_metric
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
PATH = "/api/visitors/weekly"


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


@pytest.fixture
def computed_last_night(library, client):
    """The weekly snapshot computed at 00:05 and what a browser kept of its first answer."""
    library.visit("2026-11-24 10:00:00")
    with at(2026, 11, 25, 0, 5):
        call_command("prewarm", "--only", "weekly", stdout=StringIO())
        first = client.get(PATH)
    assert first.status_code == 200
    return first


def validators(response) -> tuple[str, str]:
    return response["ETag"], response["Last-Modified"]


def test_restored_after_a_flush_the_snapshot_keeps_its_validators_and_its_age(
    computed_last_night, client, caplog
):
    get_redis_connection("default").flushdb()
    with at(2026, 11, 25, 10, 0), caplog.at_level(logging.INFO, "metrics_cache.snapshots"):
        refresh_metric("weekly")  # what a cache miss queues
        again = client.get(PATH)
        revalidated = client.get(PATH, headers={"If-None-Match": computed_last_night["ETag"]})
        health = client.get("/health").json()
    assert again.content == computed_last_night.content
    assert validators(again) == validators(computed_last_night)
    assert validators(again)[1] == "Tue, 24 Nov 2026 17:05:00 GMT"  # 00:05 in Jakarta
    assert revalidated.status_code == 304
    # Generated at 00:05, not at the restore: 9 h 55 min old.
    assert health["checks"]["snapshots"]["weekly"]["age_seconds"] == 9 * 3600 + 55 * 60
    restored = [r for r in caplog.records if getattr(r, "status", None) == "restored"]
    assert [(r.getMessage(), r.levelname, r.metric) for r in restored] == [
        ("snapshot metric=weekly status=restored from its last good payload", "INFO", "weekly")
    ]


def test_while_redis_is_down_the_last_good_copy_keeps_its_validators(
    computed_last_night, client, settings
):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    caches.close_all()
    with at(2026, 11, 25, 10, 0):
        during = client.get(PATH)
        revalidated = client.get(PATH, headers={"If-None-Match": computed_last_night["ETag"]})
    assert during.status_code == 200
    assert during.content == computed_last_night.content
    assert validators(during) == validators(computed_last_night)
    assert revalidated.status_code == 304


def test_a_snapshot_computed_today_is_kept_not_restored_again(computed_last_night, caplog):
    """The start-up prewarm (and a queued refresh) find today's snapshot in Redis and leave it:
    neither a query on SLiMS nor a rewrite from the record."""
    with at(2026, 11, 25, 10, 0), caplog.at_level(logging.INFO, "metrics_cache.snapshots"):
        results = refresh.refresh(["weekly"], force=False)
    assert [(r.metric, r.status) for r in results] == [("weekly", "fresh")]
    assert caplog.records == []


@pytest.mark.parametrize(("minute", "second", "restored"), [(59, 59, True), (60, 0, False)])
def test_a_record_as_old_as_the_ttl_is_not_restored(
    library, client, settings, minute, second, restored
):
    """An IT person who shortens AGGREGATE_TTL_SECONDS gets snapshots no older than it, also
    after a flush: at exactly the TTL the record has expired, as its Redis copy has, and the
    snapshot is computed again (here with a visit typed in since)."""
    settings.AGGREGATE_TTL_SECONDS = 3600
    library.visit("2026-11-24 10:00:00")
    with at(2026, 11, 25, 9, 0):
        call_command("prewarm", "--only", "weekly", stdout=StringIO())
    get_redis_connection("default").flushdb()
    library.visit("2026-11-24 11:00:00")
    with time_machine.travel(
        datetime(2026, 11, 25, 9, 0, tzinfo=JAKARTA) + timedelta(minutes=minute, seconds=second),
        tick=False,
    ):
        refresh_metric("weekly")
        yesterday = client.get(PATH).json()["data"][-1]
    assert yesterday == {"date": "2026-11-24", "total": 1 if restored else 2}
