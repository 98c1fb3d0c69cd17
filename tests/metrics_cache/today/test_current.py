"""today.current: a cache miss counts once in the database for every concurrent request, holds
that single flight no longer than twice the waiters' wait, says "unavailable" when the database
fails, and in incremental mode publishes the kiosks' counter rather than its own count."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.utils import timezone
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.today import current, publishing
from tests.support.library import library_test
from tests.support.rollups import at

pytestmark = library_test


def test_a_miss_holds_the_single_flight_for_twice_the_wait_at_most(library, monkeypatch):
    redis = get_redis_connection("default")
    seen = []
    counted = current._count_in_database

    def counting():
        seen.append(redis.ttl(keys.today_flight()))
        return counted()

    monkeypatch.setattr(current, "_count_in_database", counting)
    with at(2026, 11, 25, 10, 0):
        value, source = current.current_today()
    assert source == "db" and value["total"] == 0
    assert seen == [2 * keys.TODAY_SINGLE_FLIGHT_WAIT_SECONDS]
    assert not redis.exists(keys.today_flight())  # freed once counted


def test_a_database_that_fails_the_count_is_unavailable(library, monkeypatch):
    def failing():
        raise DatabaseError("gone")

    monkeypatch.setattr(current, "_count_in_database", failing)
    with at(2026, 11, 25, 10, 0):
        assert current.current_today() == (None, "unavailable")
    assert not get_redis_connection("default").exists(keys.today_flight())


@pytest.fixture
def incremental(settings):
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"


def test_in_incremental_mode_a_miss_publishes_the_kiosks_counter(library, incremental):
    library.visit("2026-11-25 08:00:00")
    with at(2026, 11, 25, 10, 0):
        day = timezone.localdate()
        # The kiosks counted five check-ins; SLiMS holds one row yet.
        get_redis_connection("default").set(keys.today_counter(day), 5)
        value, source = current.current_today()
        assert (value["total"], source) == (1, "db")
        assert publishing.published()["total"] == 5


def test_a_waiting_request_looks_for_the_shared_count_every_50_ms(library, monkeypatch):
    redis = get_redis_connection("default")
    redis.set(keys.today_flight(), 1, ex=5)  # another request is counting
    naps = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) == 2:  # the other request publishes while this one waits
            publishing.publish(42, timezone.localdate())

    monkeypatch.setattr(current.time, "sleep", nap)
    with at(2026, 11, 25, 10, 0):
        assert current.current_today() == ({"total": 42, "date": "2026-11-25",
                                            "generated_at": "2026-11-25T10:00:00.000+07:00"},
                                           "db")  # fmt: skip
    assert naps == [0.05, 0.05]


def test_a_request_that_waits_in_vain_is_unavailable(library, monkeypatch):
    get_redis_connection("default").set(keys.today_flight(), 1, ex=5)  # a count that hangs
    monkeypatch.setattr(keys, "TODAY_SINGLE_FLIGHT_WAIT_SECONDS", 1)
    with at(2026, 11, 25, 10, 0):
        assert current.current_today() == (None, "unavailable")
