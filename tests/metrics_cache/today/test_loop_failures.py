"""The fast loop while the library database fails: how long it backs off after each failure,
what its status and log say, and that the periodic recount leaves the database alone too."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections
from django_redis import get_redis_connection

from demo.writer import library_writer
from metrics_cache.base import keys
from metrics_cache.today import lock, loop, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


def jakarta(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=JAKARTA)


@pytest.fixture(autouse=True)
def no_buffer(settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0


@contextmanager
def library_unreachable():
    """SLiMS's visits table gone for a while (a botched upgrade), then back. The database itself
    stays the same one: Redis keys name it, so pointing the service elsewhere is another
    deployment."""
    with library_writer() as writer, writer.cursor() as cursor:
        cursor.execute("ALTER TABLE visitor_count RENAME TO visitor_count_away")
    try:
        yield
    finally:
        connections["library"].close()
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("ALTER TABLE visitor_count_away RENAME TO visitor_count")


def redis_now_ms(client) -> int:
    seconds, microseconds = client.execute_command("TIME")
    return int(seconds) * 1000 + int(microseconds) // 1000


def failing_tick_backs_off_for(client) -> float:
    """One failing tick after the last backoff ran out; the backoff it set, in seconds,
    measured on Redis's clock (between the times before and after the tick)."""
    client.delete(keys.today_backoff())  # the previous backoff is over
    before = redis_now_ms(client)
    assert loop.tick() == "error"
    after = redis_now_ms(client)
    expires = client.execute_command("PEXPIRETIME", keys.today_backoff())
    # Set between `before` and `after`, for a whole number of seconds.
    (seconds,) = [n for n in range(61) if expires - after <= n * 1000 <= expires - before]
    return seconds


def test_each_failure_in_a_row_doubles_the_backoff_up_to_15_seconds(library):
    client = get_redis_connection("default")
    with library_unreachable():
        assert [failing_tick_backs_off_for(client) for _ in range(6)] == [1, 2, 4, 8, 15, 15]


def test_after_a_success_the_next_failure_backs_off_for_one_second_again(library):
    client = get_redis_connection("default")
    with library_unreachable():
        assert [failing_tick_backs_off_for(client) for _ in range(3)] == [1, 2, 4]
    client.delete(keys.today_backoff())
    assert loop.tick() == "ok"
    with library_unreachable():
        assert failing_tick_backs_off_for(client) == 1


def test_a_failure_is_reported_with_its_time_and_error_and_logged_once(library, caplog, client):
    caplog.set_level(logging.WARNING, logger="metrics_cache.today")
    with at(2026, 11, 25, 10, 0):
        assert loop.tick() == "ok"
    with library_unreachable(), at(2026, 11, 25, 10, 5):
        assert loop.tick() == "error"
    status = loop.loop_status()
    assert datetime.fromisoformat(status["last_run_at"]) == jakarta(10, 5)
    assert datetime.fromisoformat(status["last_success_at"]) == jakarta(10, 0)
    # The exception's class, then its message: what an operator searches for.
    assert re.fullmatch(r"(OperationalError|ProgrammingError): .+", status["error"])
    with at(2026, 11, 25, 10, 5):
        fast_loop = client.get("/health").json()["checks"]["fast_loop"]
    assert datetime.fromisoformat(fast_loop["last_run_at"]) == jakarta(10, 5)
    failing = [r.getMessage() for r in caplog.records if "fast loop failing" in r.getMessage()]
    assert failing == [f"fast loop failing, backing off: {status['error']}"]


def test_the_periodic_recount_waits_while_the_loop_backs_off(library, settings):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00")
    with at(2026, 11, 25, 10, 0):
        with library_unreachable():
            assert loop.tick() == "error"
        # The database is back, but the backoff is not over: no statement reaches it.
        library_queries = connections["library"].queries_log
        library_queries.clear()
        connections["library"].force_debug_cursor = True
        try:
            assert loop.reconcile_tick() == "skipped"
        finally:
            connections["library"].force_debug_cursor = False
        assert list(library_queries) == []
        assert publishing.published() is None


def test_in_direct_mode_there_is_no_periodic_recount(library, settings):
    """Direct mode counts exactly on every tick: the recount task does nothing."""
    settings.TODAY_COUNT_MODE = "direct"
    library.visit("2026-11-25 08:00:00")
    with at(2026, 11, 25, 10, 0):
        assert loop.reconcile_tick() == "skipped"
        assert publishing.published() is None


def test_the_periodic_recount_gives_up_while_a_tick_holds_the_loop(library, settings, monkeypatch):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00")
    monkeypatch.setattr(lock.loop_lock.__wrapped__, "__defaults__", (0.1,))  # wait 0.1 s, not 5 s
    held = get_redis_connection("default").lock(keys.today_lock(), timeout=30)
    assert held.acquire(blocking=False)
    try:
        with at(2026, 11, 25, 10, 0):
            assert loop.reconcile_tick() == "busy"
            assert publishing.published() is None
    finally:
        held.release()


def test_a_long_error_is_kept_to_its_first_300_characters(library, monkeypatch):
    """An exception's message can carry a whole statement: /health shows its first 300
    characters, the class name first."""

    class Failing:
        name = "delta"

        def tick(self, today):
            raise RuntimeError("x" * 1000)

    monkeypatch.setattr(loop.modes, "configured", Failing)
    assert loop.tick() == "error"
    error = loop.loop_status()["error"]
    assert len(error) == 300 and error.startswith("RuntimeError: xxx")
