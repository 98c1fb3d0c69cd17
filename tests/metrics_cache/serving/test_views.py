"""Serving snapshots: 202 while warming (queued once), ETag/304, exact paths, restore, failures."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connections
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.snapshots import store
from metrics_cache.snapshots.models import SnapshotRecord
from metrics_cache.snapshots.registry import BY_NAME, METRICS
from metrics_cache.snapshots.tasks import refresh_group, refresh_metric
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def queued_tasks(broker) -> list[tuple[str, list]]:
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    return [(m["headers"]["task"], json.loads(__import__("base64").b64decode(m["body"]))[0])
            for m in messages]  # fmt: skip


def test_a_miss_answers_202_and_queues_one_refresh_however_many_requests(library, client, broker):
    for _ in range(5):
        response = client.get("/api/visitors/weekly")
        assert response.status_code == 202
        assert response["Retry-After"] == "5"
        assert response.json() == {
            "status": "warming",
            "message": "weekly cache not ready",
            "retry_after_seconds": 5,
        }
    assert queued_tasks(broker) == [("metrics_cache.refresh_metric", ["weekly"])]


def test_every_registry_path_answers(library, client, broker):
    for metric in METRICS:
        for path in metric.paths:
            assert client.get(f"/{path}").status_code == 202, path
    call_command("prewarm", stdout=StringIO())
    for metric in METRICS:
        for path in metric.paths:
            assert client.get(f"/{path}").status_code == 200, path


def test_etag_last_modified_and_304(library, client):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    first = client.get("/api/visitors/weekly")
    assert first.status_code == 200
    assert first["Cache-Control"] == "public, max-age=60"
    assert first["Last-Modified"].endswith("GMT")
    etag = first["ETag"]
    again = client.get("/api/visitors/weekly", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    other = client.get("/api/visitors/weekly", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_paths_are_exact_and_unknown_query_parameters_are_ignored(library, client):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    plain = client.get("/api/visitors/weekly")
    assert client.get("/api/visitors/weekly?_=1732500000").content == plain.content
    slash = client.get("/api/visitors/weekly/")
    assert slash.status_code == 404
    assert slash.json()["status"] == "not_found"
    assert client.get("/api/nothing-here").status_code == 404


def test_old_paths_are_deprecated_in_the_schema(client):
    schema = client.get("/docs/json").json()
    assert schema["paths"]["/api/books/collection"]["get"]["deprecated"] is True
    assert not schema["paths"]["/api/books/stats/collection"]["get"].get("deprecated")


def test_a_flushed_cache_refills_from_the_last_good_payload_without_slims(
    library, django_assert_max_num_queries
):
    library.visit("2026-01-05 10:00:00")
    call_command("prewarm", stdout=StringIO())
    served = store.read("weekly").body
    get_redis_connection("default").flushdb()
    with django_assert_max_num_queries(0, connection=connections["library"]):
        refresh_metric("weekly")
        refresh_group("books", force=False)
    assert store.read("weekly").body == served
    assert store.read("collection") is not None


def test_one_failing_metric_does_not_stop_the_others_and_keeps_its_last_good_payload(
    library, scratch_library
):
    # The scratch database has no SLiMS tables: every query fails. Mid-month: on the 1st,
    # "this month to yesterday" is empty and its metrics rightly need no query at all.
    with (
        time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False),
        pytest.raises(CommandError, match="11 metric"),
    ):
        call_command("prewarm", stdout=StringIO())
    records = SnapshotRecord.objects.all()
    assert records.count() == len(METRICS)
    assert {r.status for r in records} == {"failed"}
    assert "visitor_count" in records.get(metric="weekly").last_error


def test_failure_after_success_keeps_the_payload(library, scratch_library):
    SnapshotRecord.objects.create(metric="weekly", status="ok", payload='{"data":[]}')
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("prewarm", "--only", "weekly", "collection", stdout=out)
    record = SnapshotRecord.objects.get(metric="weekly")
    assert record.status == "failed" and record.payload == '{"data":[]}'
    assert "failed" in out.getvalue()


def test_a_group_run_never_overlaps_itself(library):
    lock = get_redis_connection("default").lock(keys.group_lock("visitors"), timeout=60)
    assert lock.acquire(blocking=False)
    try:
        refresh_group("visitors")
        assert not SnapshotRecord.objects.exists()
    finally:
        lock.release()
    refresh_group("visitors")
    assert SnapshotRecord.objects.filter(status="ok").count() == 5


def test_prewarm_prints_a_table(library):
    out = StringIO()
    call_command("prewarm", "--only", "collection", "weekly", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["metric", "rows", "ms", "status"]
    assert [line.split()[0] for line in lines[1:]] == ["weekly", "collection"]
    assert all(line.split()[-1] == "ok" for line in lines[1:])


def test_prewarm_async_queues(library, broker):
    call_command("prewarm", "--async", "--only", "weekly", stdout=StringIO())
    assert queued_tasks(broker) == [("metrics_cache.refresh_metric", ["weekly"])]


def test_while_redis_is_down_snapshots_come_from_the_last_good_payloads(
    library, client, settings, django_assert_max_num_queries
):
    from django.core.cache import caches

    library.visit("2026-01-05 10:00:00", member_id="M1", name="Budi Santoso")
    # An explicit clock: the visit is in "this year" whatever day the suite runs.
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False):
        call_command("prewarm", stdout=StringIO())
        served = client.get("/api/visitors/weekly").content
        top = client.get("/api/visitors/yearly/top").json()
        assert [(v["member_id"], v["member_name"], v["total"]) for v in top["data"]] == [
            (None, "Budi S.", 1)  # the public copy is masked
        ]
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
        }
        caches.close_all()
        with django_assert_max_num_queries(0, connection=connections["library"]):
            weekly = client.get("/api/visitors/weekly")
            during = client.get("/api/visitors/yearly/top")
            summary = client.get("/api/books/summary")
    assert weekly.status_code == 200 and weekly.content == served
    assert during.json() == top  # still the public (masked) copy, with Budi in it
    assert summary.status_code == 200


def test_another_library_never_gets_the_previous_ones_figures(library, client, settings):
    library.visit("2026-01-05 10:00:00")
    call_command("prewarm", stdout=StringIO())
    assert client.get("/api/visitors/weekly").status_code == 200
    # The IT person points the service at another SLiMS database.
    library_settings = settings.DATABASES["library"]
    original = library_settings["NAME"]
    library_settings["NAME"] = f"{original}-another-library"
    try:
        assert client.get("/api/visitors/weekly").status_code == 202
        assert store.read_last_good(BY_NAME["weekly"]) is None  # no stale restore either
    finally:
        library_settings["NAME"] = original
    assert client.get("/api/visitors/weekly").status_code == 200
