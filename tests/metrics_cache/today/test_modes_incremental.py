"""Incremental mode with concurrent kiosks: no increment lost, the shown count never goes back."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.today import counting, loop, modes, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
DAY = "2026-11-25"
TOKEN = "kiosk-secret"
# Every wait in these tests is bounded by this (a hung thread fails the test, never hangs it).
WAIT_SECONDS = 20


@pytest.fixture(autouse=True)
def incremental(settings):
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = TOKEN
    settings.VISITOR_SYNC_BUFFER_MS = 0
    # Mid-morning in the library's zone, the clock running (locks wait on real time).
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=True):
        yield


@pytest.fixture
def published_sequence():
    """Every total pushed on this deployment's channel, in the order Redis published them."""
    pubsub = get_redis_connection("default").pubsub()
    pubsub.subscribe(keys.today_events_channel())
    pubsub.get_message(timeout=1)  # the subscribe confirmation

    def received() -> list[int]:
        out = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            out.append(json.loads(message["data"])["total"])
        return out

    yield received
    pubsub.close()


def post(client: Client, by: int = 1):
    response = client.post(
        "/api/visitors/today/increment",
        {"by": by},
        content_type="application/json",
        headers={"Authorization": f"Token {TOKEN}"},
    )
    assert response.status_code == 200, response.content
    return response.json()["total"]


def counter() -> int:
    return int(get_redis_connection("default").get(keys.today_counter(timezone.localdate())))


def shown() -> int:
    return publishing.published()["total"]


def in_thread(target, name: str | None = None) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def test_concurrent_kiosks_and_ticks_lose_nothing_and_never_go_back(library, published_sequence):
    for hour in (8, 9, 9):
        library.visit(f"{DAY} {hour:02d}:00:00")
    assert loop.tick() == "ok"  # the day's counter, built from SLiMS's 3 visits
    kiosks, posts_each = 4, 25
    done = threading.Event()
    errors: list[BaseException] = []

    def kiosk():
        client = Client()
        try:
            for _ in range(posts_each):
                post(client)
        except BaseException as exc:
            errors.append(exc)

    def ticker():
        while not done.is_set():
            loop.tick()

    tickers = [in_thread(ticker) for _ in range(2)]
    posting = [in_thread(kiosk) for _ in range(kiosks)]
    for thread in posting:
        thread.join(WAIT_SECONDS)
    done.set()
    for thread in tickers:
        thread.join(WAIT_SECONDS)
    assert not errors
    assert not any(thread.is_alive() for thread in posting + tickers)

    assert counter() == 3 + kiosks * posts_each  # no increment lost
    assert loop.tick() == "ok"
    assert shown() == 3 + kiosks * posts_each
    sequence = published_sequence()
    assert sequence[0] == 3 and sequence[-1] == 103
    assert sequence == sorted(sequence), "the shown count went backwards"


def test_a_tick_that_read_an_older_total_never_overwrites_a_newer_one(
    library, published_sequence, monkeypatch
):
    """The race made deterministic: a kiosk posts between a tick's read and its publish."""
    assert loop.tick() == "ok"
    assert post(Client()) == 1
    incremental = modes.MODES["incremental"]
    count_incremental = incremental.tick

    def kiosk_arrives_meanwhile(day):
        stale = count_incremental(day)  # reads 1
        assert post(Client()) == 2
        return stale

    monkeypatch.setattr(incremental, "tick", kiosk_arrives_meanwhile)
    assert loop.tick() == "ok"
    assert shown() == 2
    assert published_sequence() == [0, 1, 2]


def test_after_a_redis_flush_the_first_kiosk_post_counts_from_the_exact_figure(library):
    for minute in range(5):
        library.visit(f"{DAY} 09:{minute:02d}:00")
    client = Client()
    assert post(client) == 6
    get_redis_connection("default").flushdb()
    assert post(client, by=2) == 7  # 5 in SLiMS + 2, not 2
    assert shown() == 7


def test_kiosks_posting_at_once_after_a_flush_rebuild_the_counter_once(library):
    for minute in range(5):
        library.visit(f"{DAY} 09:{minute:02d}:00")
    errors: list[BaseException] = []

    def kiosk():
        try:
            post(Client())
        except BaseException as exc:
            errors.append(exc)

    threads = [in_thread(kiosk) for _ in range(6)]
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not errors
    assert counter() == 5 + 6


def test_recount_during_a_reconcile_waits_for_the_loops_lock(library, monkeypatch):
    """A reconcile is counting when recount_today starts: the recount waits for the loop's lock
    (without it both apply the same correction and the count is lowered twice)."""
    for minute in range(8):
        library.visit(f"{DAY} 09:{minute:02d}:00")
    assert loop.tick() == "ok"
    get_redis_connection("default").incrby(keys.today_counter(timezone.localdate()), 2)
    assert loop.tick() == "ok" and shown() == 10  # 2 kiosk check-ins SLiMS never got

    exact_count = counting.exact_today
    reconcile_counting, release_reconcile = threading.Event(), threading.Event()

    def held_count(day):
        value = exact_count(day)
        if threading.current_thread().name == "reconcile":
            reconcile_counting.set()
            assert release_reconcile.wait(WAIT_SECONDS)
        return value

    monkeypatch.setattr(counting, "exact_today", held_count)
    reconcile = in_thread(loop.reconcile_tick, name="reconcile")
    assert reconcile_counting.wait(WAIT_SECONDS)
    recount = in_thread(lambda: call_command("recount_today", stdout=StringIO()))
    recount.join(1)
    recount_waited = recount.is_alive()
    release_reconcile.set()
    for thread in (reconcile, recount):
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive()
    assert recount_waited
    assert counter() == 8 and shown() == 8


@pytest.mark.parametrize("mode", ["delta", "incremental"])
def test_publishing_is_monotonic_within_a_day_unless_exact(
    library, settings, published_sequence, caplog, mode
):
    settings.TODAY_COUNT_MODE = mode
    day = timezone.localdate()
    get_redis_connection("default").delete(keys.today_counter(day))  # no counter to follow
    assert publishing.publish(5, day) is True
    assert publishing.publish(3, day) is False  # an older figure: kept at 5, nothing pushed
    assert shown() == 5
    assert "lowered" not in caplog.text
    assert (
        publishing.publish(3, day, exact=True) is True
    )  # the exact recount may lower, and logs it
    assert shown() == 3
    assert "exact recount lowered today's count: 5 → 3" in caplog.text
    tomorrow = day.replace(day=26)
    assert publishing.publish(0, tomorrow) is True  # a new day starts from its own figure
    assert publishing.publish(9, day) is False  # a tick begun before midnight, published after
    stored = json.loads(get_redis_connection("default").get(keys.today_count()))
    assert (stored["date"], stored["total"]) == ("2026-11-26", 0)
    assert published_sequence() == [5, 3, 0]
