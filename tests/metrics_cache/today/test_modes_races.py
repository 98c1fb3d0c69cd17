"""Races forced deterministically: a hook on the library connection runs the other party's
action between two of our statements, on every run (no sleeps, no threads)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections

from metrics_cache.today import counter, loop, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture(autouse=True)
def no_buffer(settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0


@pytest.fixture
def frozen():
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False):
        yield


@pytest.fixture
def concurrent_writes():
    """A write landing while the service's read statement is open needs a server: the embedded
    SQLite demo library locks the file instead (the writer would wait, then fail)."""
    if connections["library"].vendor == "sqlite":
        pytest.skip("SQLite takes no write while a read statement is open")


@contextmanager
def after_statement(position: int, action):
    """Runs `action` once, right after the service's `position`-th statement on the library
    database (counted from 1); yields whether it ran."""
    seen = []
    ran = []

    def hook(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        seen.append(sql)
        if len(seen) == position:
            action()
            ran.append(True)
        return result

    with connections["library"].execute_wrapper(hook):
        yield ran


# The exact count takes a few statements; the insert lands after each of them in turn.
POSITIONS = range(1, 7)


def total() -> int:
    return publishing.published()["total"]


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("mode", ["delta", "incremental"])
def test_a_row_inserted_during_the_exact_count_is_counted_once(
    library, concurrent_writes, settings, frozen, mode, position
):
    settings.TODAY_COUNT_MODE = mode
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-24 08:00:00")
    with after_statement(position, lambda: library.visit("2026-11-25 09:59:59")) as ran:
        assert loop.reconcile_tick() == "ok"
    if not ran:
        pytest.skip(f"the recount ran fewer than {position} statements")
    assert total() in (1, 2)
    if mode == "delta":
        for _ in range(2):  # the ticks pick up what the recount did not see, once
            assert loop.tick() == "ok"
            assert total() == 2
    assert loop.reconcile_tick() == "ok"
    assert total() == 2


@pytest.mark.parametrize("position", POSITIONS)
def test_a_row_inserted_during_the_first_delta_baseline_is_counted_once(
    library, concurrent_writes, settings, frozen, position
):
    settings.TODAY_COUNT_MODE = "delta"
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-24 08:00:00")
    with after_statement(position, lambda: library.visit("2026-11-25 09:59:59")) as ran:
        assert loop.tick() == "ok"
    if not ran:
        pytest.skip(f"the baseline ran fewer than {position} statements")
    for _ in range(2):
        assert loop.tick() == "ok"
        assert total() == 2


def test_kiosk_increments_made_during_a_recount_are_kept(library, settings, client, frozen):
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"

    def checkin(by: int = 1) -> None:
        response = client.post(
            "/api/visitors/today/increment",
            {"by": by},
            content_type="application/json",
            headers={"Authorization": "Token kiosk-secret"},
        )
        assert response.status_code == 200, response.content

    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 08:30:00")
    assert loop.tick() == "ok"  # the kiosks' counter starts from the exact count
    assert total() == 2
    # A third visitor checks in at a kiosk while the recount is counting; the row reaches
    # SLiMS only after the count read it.
    with after_statement(1, checkin) as ran:
        assert loop.reconcile_tick() == "ok"
    assert ran
    assert total() == 3
    library.visit("2026-11-25 09:59:00")  # the third visitor's row arrives
    assert loop.reconcile_tick() == "ok"
    assert total() == 3


def test_a_kiosk_checkin_between_the_recount_and_its_publish_is_not_undone(
    library, settings, client, frozen, monkeypatch
):
    """The recount has set the kiosks' counter to the exact count; a kiosk raises it and
    publishes before the recount publishes its own figure, which must not take it back."""
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 08:30:00")
    assert loop.tick() == "ok"
    apply_exact = counter._APPLY_EXACT

    def apply_then_a_kiosk_checks_in(**kwargs):
        applied = apply_exact(**kwargs)
        response = client.post(
            "/api/visitors/today/increment",
            {"by": 1},
            content_type="application/json",
            headers={"Authorization": "Token kiosk-secret"},
        )
        assert response.status_code == 200, response.content
        return applied

    monkeypatch.setattr(counter, "_APPLY_EXACT", apply_then_a_kiosk_checks_in)
    assert loop.reconcile_tick() == "ok"
    assert total() == 3


def test_recount_today_keeps_a_kiosk_checkin_made_before_it_publishes(
    library, settings, client, frozen, monkeypatch
):
    """manage.py recount_today publishes an exact figure, which may lower today's count; in
    incremental mode that figure is the kiosks' counter as it stands when publishing, so a
    check-in made after the counter was set is not taken back."""
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 08:30:00")
    assert loop.tick() == "ok"
    apply_exact = counter._APPLY_EXACT

    def apply_then_a_kiosk_checks_in(**kwargs):
        applied = apply_exact(**kwargs)
        counter.increment_existing(kwargs["keys"][0], 1)  # the kiosk's INCRBY takes no lock
        return applied

    monkeypatch.setattr(counter, "_APPLY_EXACT", apply_then_a_kiosk_checks_in)
    old, result = loop.recount(date(2026, 11, 25))
    assert (old["total"], result.total) == (2, 2)
    assert total() == 3
