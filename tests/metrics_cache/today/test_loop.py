"""Today's count: the three modes, midnight, out-of-order rows, overlap, backoff, the API."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from django_redis import get_redis_connection

from demo.writer import library_writer
from metrics_cache.base import keys
from metrics_cache.today import loop, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


@pytest.fixture(autouse=True)
def no_buffer(settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0


@pytest.fixture
def events():
    """Messages published on this deployment's count channel."""
    pubsub = get_redis_connection("default").pubsub()
    pubsub.subscribe(keys.today_events_channel())
    pubsub.get_message(timeout=1)  # the subscribe confirmation

    def received() -> list[dict]:
        out = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            out.append(json.loads(message["data"]))
        return out

    yield received
    pubsub.close()


def published_total() -> int | None:
    value = publishing.published()
    return None if value is None else value["total"]


@pytest.mark.parametrize("mode", ["direct", "delta", "incremental"])
def test_each_mode_counts_local_today(library, settings, mode, events):
    settings.TODAY_COUNT_MODE = mode
    library.visit("2026-11-24 23:59:59")
    library.visit("2026-11-25 00:00:00")
    library.visit("2026-11-25 09:00:00")
    with at(2026, 11, 25, 10, 0):
        assert loop.tick() == "ok"
        assert published_total() == 2
        assert [e["total"] for e in events()] == [2]
        library.visit("2026-11-25 10:00:00")
        if mode == "incremental":  # the kiosk reports the check-in
            get_redis_connection("default").incrby(keys.today_counter(timezone.localdate()), 1)
        assert loop.tick() == "ok"
        assert published_total() == 3
        assert loop.tick() == "ok"  # unchanged: nothing pushed
        assert [e["total"] for e in events()] == [3]


@pytest.mark.parametrize("mode", ["direct", "delta", "incremental"])
def test_the_count_restarts_at_local_midnight_and_is_pushed(library, settings, mode, events):
    settings.TODAY_COUNT_MODE = mode
    library.visit("2026-11-25 20:00:00")
    library.visit("2026-11-25 23:59:59")
    with at(2026, 11, 25, 23, 59, 58):
        loop.tick()
        assert published_total() == 2
    library.visit("2026-11-26 00:00:00")
    # 00:00:03 in Jakarta is still the 25th in UTC.
    with at(2026, 11, 26, 0, 0, 3):
        assert loop.tick() == "ok"
        value = publishing.published()
    assert value["date"] == "2026-11-26" and value["total"] == 1
    assert [e["total"] for e in events()] == [2, 1]


def test_delta_counts_only_new_ids_and_ignores_late_entries_for_yesterday(library, settings):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00", visitor_id=100)
    library.visit("2026-11-24 15:00:00", visitor_id=101)  # typed in late for yesterday
    library.visit("2026-11-25 08:05:00", visitor_id=102)
    with at(2026, 11, 25, 10, 0):
        loop.tick()
        assert published_total() == 2
        state = get_redis_connection("default").hgetall(keys.today_delta_state())
        assert int(state[b"last_id"]) == 102
        library.visit("2026-11-24 16:00:00", visitor_id=103)  # late again
        library.visit("2026-11-25 10:00:00", visitor_id=104)
        loop.tick()
        assert published_total() == 3
        health = loop.loop_status()
    assert health["mode"] == "delta"
    assert health["baseline"]["count"] == 2
    assert health["last_duration_ms"] is not None


def test_delta_rows_below_the_last_id_are_caught_by_the_exact_recount(library, settings):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00", visitor_id=100)
    with at(2026, 11, 25, 10, 0):
        loop.tick()
        # A row restored with an old id (a clock fix, a re-imported entry): below last_id,
        # so the delta tick cannot see it; the periodic exact recount does.
        library.visit("2026-11-25 09:00:00", visitor_id=50)
        loop.tick()
        assert published_total() == 1
        assert loop.reconcile_tick() == "ok"
        assert published_total() == 2


def test_delta_counts_the_first_visit_a_new_library_records(library, settings):
    """An empty visits table (a library that has just installed SLiMS): the first row gets
    visitor_id 1 and is counted by the next tick."""
    settings.TODAY_COUNT_MODE = "delta"
    with at(2026, 11, 25, 8, 0):
        assert loop.tick() == "ok"
        assert published_total() == 0
        # No row yet: the baseline names none (ids start at 1).
        assert loop.loop_status()["baseline"] == {"id": 0, "count": 0}
        library.visit("2026-11-25 08:00:00", visitor_id=1)
        assert loop.tick() == "ok"
        assert published_total() == 1


def test_delta_reports_the_baseline_of_the_exact_recount(library, settings):
    """/health's fast_loop.baseline after the periodic recount: today's count and the highest
    visitor_id it covers (the contract), above which the ticks count: here a late entry for
    yesterday, not today's lowest id."""
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-24 08:00:00", visitor_id=90)
    library.visit("2026-11-25 08:00:00", visitor_id=100)
    library.visit("2026-11-25 08:30:00", visitor_id=101)
    library.visit("2026-11-24 17:00:00", visitor_id=102)  # typed in late for yesterday
    with at(2026, 11, 25, 10, 0):
        assert loop.tick() == "ok"
        assert loop.reconcile_tick() == "ok"
        assert loop.loop_status()["baseline"] == {"id": 102, "count": 2}


def test_the_incremental_recount_reports_its_count_and_direct_mode_no_baseline(library, settings):
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 09:00:00")
    with at(2026, 11, 25, 10, 0):
        settings.TODAY_COUNT_MODE = "incremental"
        assert loop.reconcile_tick() == "ok"
        # The kiosks' counter has no id to start from: only the exact count it was set to.
        assert loop.loop_status()["baseline"] == {"id": None, "count": 2}
        settings.TODAY_COUNT_MODE = "direct"
        assert loop.tick() == "ok"
        assert loop.loop_status()["baseline"] is None


def test_delta_baseline_does_not_scan_history(library, settings, django_assert_max_num_queries):
    settings.TODAY_COUNT_MODE = "delta"
    for day in range(1, 25):
        library.visit(f"2026-11-{day:02d} 09:00:00")
    library.visit("2026-11-25 08:00:00")
    with at(2026, 11, 25, 10, 0):
        loop.tick()
        assert published_total() == 1
        with django_assert_max_num_queries(1, connection=connections["library"]) as queries:
            loop.tick()
    # A steady tick is one primary-key range query above the last id.
    assert "visitor_id` >" in queries.captured_queries[0]["sql"].replace('"', "`")


def test_a_tick_never_overlaps_another(library):
    lock = get_redis_connection("default").lock(keys.today_lock(), timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert loop.tick() == "busy"
        assert publishing.published() is None
    finally:
        lock.release()
    assert loop.tick() == "ok"


def test_a_tick_that_dies_holding_the_loop_frees_it_within_its_time_limit(library, settings):
    """A worker killed mid-tick never releases the loop's lock: the lock must expire by
    itself, no later than the tick's own time limit, or the count would stop for good."""
    settings.TODAY_COUNT_MODE = "direct"
    client = get_redis_connection("default")
    lock_ttls = []

    def during_the_count(execute, sql, params, many, context):
        lock_ttls.append(client.pttl(keys.today_lock()))
        return execute(sql, params, many, context)

    with connections["library"].execute_wrapper(during_the_count):
        assert loop.tick() == "ok"
    assert lock_ttls and all(0 < ttl <= 15_000 for ttl in lock_ttls)


def test_the_tick_reports_how_long_its_count_took_in_milliseconds(library, monkeypatch):
    """/health's last_duration_ms and /metrics' duration: the count's time, to 0.1 ms."""
    readings = iter([1000.0, 1000.23456])  # the loop's clock, before and after the count

    class LoopClock:
        @staticmethod
        def perf_counter() -> float:
            return next(readings)

    monkeypatch.setattr(loop, "time", LoopClock)
    assert loop.tick() == "ok"
    assert loop.loop_status()["last_duration_ms"] == 234.6


def test_in_direct_mode_a_deleted_visit_lowers_the_count(library, settings, caplog):
    """Direct mode counts exactly on every tick, so its figure may go down (a row deleted):
    logged, once, only when it does."""
    caplog.set_level(logging.WARNING, logger="metrics_cache.today")
    settings.TODAY_COUNT_MODE = "direct"
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 09:00:00")
    with at(2026, 11, 25, 10, 0):
        assert loop.tick() == "ok"
        assert published_total() == 2
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-25 09:00:00'")
        assert loop.tick() == "ok"
        assert published_total() == 1
        assert loop.tick() == "ok"
    lowered = [r.getMessage() for r in caplog.records if "lowered" in r.getMessage()]
    assert lowered == ["exact recount lowered today's count: 2 → 1"]


def test_the_buffer_pauses_the_next_tick(library, settings):
    settings.VISITOR_SYNC_BUFFER_MS = 60_000
    assert loop.tick() == "ok"
    assert loop.tick() == "waiting"
    # ... for the buffer, and no longer: then the loop runs again.
    assert 0 < get_redis_connection("default").pttl(keys.today_cooldown()) <= 60_000


def test_database_errors_back_off_and_log_once(library, scratch_library, caplog):
    caplog.set_level(logging.WARNING, logger="metrics_cache.today")
    client = get_redis_connection("default")
    assert loop.tick() == "error"
    assert loop.tick() == "waiting"  # backing off
    client.delete(keys.today_backoff())
    assert loop.tick() == "error"
    assert client.ttl(keys.today_backoff()) >= 1
    failing = [r for r in caplog.records if "fast loop failing" in r.message]
    assert len(failing) == 1
    assert "visitor_count" in loop.loop_status()["error"]


def test_ticks_that_follow_no_error_log_no_recovery(library, caplog, settings):
    """The first tick ever (its status written for the first time) and the next one."""
    settings.VISITOR_SYNC_BUFFER_MS = 0
    caplog.set_level(logging.WARNING, logger="metrics_cache.today")
    assert loop.tick() == "ok"
    assert loop.tick() == "ok"
    assert not [r for r in caplog.records if "recovered" in r.getMessage()]


def test_recovery_is_logged_and_clears_the_error(library, caplog, settings):
    caplog.set_level(logging.WARNING, logger="metrics_cache.today")
    client = get_redis_connection("default")
    client.hset(keys.today_loop_status(), mapping={"error": "OperationalError: gone"})
    assert loop.tick() == "ok"
    assert loop.loop_status()["error"] is None
    recovered = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert recovered == [f"fast loop recovered: today={published_total()}"]


def test_recount_today_prints_old_and_new_and_resets_delta(library, settings, events):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00", visitor_id=100)
    with at(2026, 11, 25, 10, 0):
        loop.tick()
        library.visit("2026-11-25 09:00:00", visitor_id=50)  # invisible to delta
        out = StringIO()
        call_command("recount_today", stdout=out)
    assert out.getvalue().strip() == "2026-11-25 (delta mode): 1 → 2"
    assert [e["total"] for e in events()] == [1, 2]


class TestTodayEndpoint:
    def test_cached(self, library, client):
        library.visit("2026-11-25 08:00:00")
        with at(2026, 11, 25, 10, 0):
            loop.tick()
            body = client.get("/api/visitors/today").json()
        assert body["total"] == 1 and body["source"] == "cache" and body["date"] == "2026-11-25"
        assert body["generated_at"].startswith("2026-11-25T10:00:00")

    def test_a_miss_counts_once_then_serves_the_cache(self, library, client):
        library.visit("2026-11-25 08:00:00")
        with at(2026, 11, 25, 10, 0):
            first = client.get("/api/visitors/today").json()
            second = client.get("/api/visitors/today").json()
        assert (first["total"], first["source"]) == (1, "db")
        assert (second["total"], second["source"]) == (1, "cache")
        assert get_redis_connection("default").ttl(keys.today_count()) <= 10

    def test_yesterdays_figure_is_not_served_as_today(self, library, client):
        with at(2026, 11, 25, 23, 0):
            publishing.publish(7, timezone.localdate())
        with at(2026, 11, 26, 0, 1):
            body = client.get("/api/visitors/today").json()
        assert body["total"] == 0 and body["date"] == "2026-11-26"

    def test_concurrent_misses_share_one_count(self, library, client, django_assert_num_queries):
        client_redis = get_redis_connection("default")
        client_redis.set(keys.today_flight(), 1, ex=5)  # another request is counting
        with at(2026, 11, 25, 10, 0):
            day = timezone.localdate()
            threading.Timer(0.3, lambda: publishing.publish(42, day)).start()
            with django_assert_num_queries(0, connection=connections["library"]):
                body = client.get("/api/visitors/today").json()
        assert (body["total"], body["source"]) == (42, "db")

    def test_503_when_cache_and_database_are_both_unavailable(
        self, library, scratch_library, client, settings
    ):
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
        }
        response = client.get("/api/visitors/today")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert "Traceback" not in response.content.decode()


class TestIncrement:
    URL = "/api/visitors/today/increment"

    @pytest.fixture(autouse=True)
    def incremental(self, settings):
        settings.TODAY_COUNT_MODE = "incremental"
        settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"

    def post(self, client, body=None, token="kiosk-secret"):
        headers = {"Authorization": f"Token {token}"} if token else {}
        return client.post(self.URL, body or {}, content_type="application/json", headers=headers)

    def test_tokens(self, library, client, settings):
        assert self.post(client, token=None).status_code == 401
        assert self.post(client, token="wrong").status_code == 403
        settings.TODAY_INCREMENT_TOKEN = None
        assert self.post(client).status_code == 403  # unset token refuses everything

    def test_only_in_incremental_mode(self, library, client, settings):
        settings.TODAY_COUNT_MODE = "delta"
        assert self.post(client).status_code == 409

    @pytest.mark.parametrize("by", [0, 101, -1, "many"])
    def test_bad_amounts(self, library, client, by):
        response = self.post(client, {"by": by})
        assert response.status_code == 400
        assert "by" in response.json()["errors"]

    def test_increments_then_reconcile_to_the_exact_count(self, library, client, events, caplog):
        library.visit("2026-11-25 08:00:00")
        with at(2026, 11, 25, 10, 0):
            # The day's first kiosk POST builds the counter from SLiMS's 1 visit, then adds 1.
            assert self.post(client).json()["total"] == 2
            assert self.post(client, {"by": 4}).json()["total"] == 6
            assert published_total() == 6
            # The kiosks' 5 check-ins never reached SLiMS: the exact recount lowers, and says so.
            assert loop.reconcile_tick() == "ok"
            assert published_total() == 1
        assert [e["total"] for e in events()] == [2, 6, 1]
        assert "lowered today's count: 6 → 1" in caplog.text


def test_after_switching_from_incremental_to_delta_the_recount_makes_the_count_exact(
    library, settings
):
    """The kiosks' counter outlives the day; once the service runs in delta mode it is no
    longer what is published."""
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 09:00:00")
    with at(2026, 11, 25, 10, 0):
        settings.TODAY_COUNT_MODE = "incremental"
        assert loop.tick() == "ok"
        get_redis_connection("default").incrby(keys.today_counter(timezone.localdate()), 3)
        assert loop.tick() == "ok"
        assert published_total() == 5  # three kiosk check-ins SLiMS never recorded
        settings.TODAY_COUNT_MODE = "delta"
        assert loop.reconcile_tick() == "ok"
        assert published_total() == 2


def test_a_count_made_in_the_database_has_the_contracts_fields(library, client):
    """A miss counted in the database answers like a cached figure: total, source, the local
    date and when it was counted (the contract's shape, whichever source answered)."""
    library.visit("2026-11-25 08:00:00")
    with at(2026, 11, 25, 10, 0):
        body = client.get("/api/visitors/today").json()
    assert set(body) == {"total", "source", "date", "generated_at"}
    assert (body["total"], body["source"], body["date"]) == (1, "db", "2026-11-25")
    assert body["generated_at"].startswith("2026-11-25T10:00:00")
    assert body["generated_at"].endswith("+07:00")
