"""Today's count from the visit rollups: a cache miss reads today's rollup and the rows above
its watermark (no scan of SLiMS); the exact recount repairs, and keeps what folds meanwhile.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand (assert_rollups_match_a_full_recount, in tests.support.rollups).
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.db import connections
from django.test import Client

from demo.writer import library_writer
from metrics_cache.rollups import engine
from metrics_cache.rollups.models import RollupState
from metrics_cache.today import counting, loop, publishing
from tests.support.library import library_test
from tests.support.rollups import (
    a_library,
    assert_rollups_match_a_full_recount,
    at,
    build,
    library_statements,
    quoted,
)
from visitors import rollups as visit_rollups
from visitors import selectors as visit_selectors
from visitors.models import VisitDay

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def test_a_cache_miss_counts_today_from_the_rollups_without_scanning(library, small_chunks):
    """/api/visitors/today with nothing cached: today's rollup plus the rows above its
    watermark, read by primary-key ranges (no statement on visitor_count without a bound on
    visitor_id); exact with an import of old rows and today's rows on both sides of it."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with at(2026, 11, 25, 10, 0):
        for hour in (8, 9):
            library.visit(f"2026-11-25 {hour:02d}:00:00", member_id=f"M{hour}")
        build()
    library.visit("2026-11-25 10:00:00", member_id="M10")  # above the watermark
    for n in range(12):  # an import of earlier years, at higher ids
        library.visit(f"2024-0{1 + n % 9}-1{n % 10} 10:00:00", name=f"Tamu {n}")
    library.visit("2026-11-25 11:00:00", member_id="M11")
    library.visit("2026-11-24 17:00:00", member_id="M12")  # yesterday's, typed in late
    with at(2026, 11, 25, 11, 30), CaptureQueriesContext(connections["library"]) as queries:
        body = Client().get("/api/visitors/today").json()
    assert body["total"] == 4 and body["source"] == "db"
    # Only the highest id (the primary key's last entry) and ranges bounded below by the
    # watermark: a scan of the table would hold MyISAM's lock for all of it.
    statements = [re.sub(r"[`\"]", "", sql) for sql in library_statements(queries.captured_queries)]
    ranges = [sql for sql in statements if "WHERE" in sql]
    assert ranges and all(
        re.search(r"visitor_id > \d+ AND .*visitor_id <= \d+", sql) for sql in ranges
    )
    assert all(sql.startswith("SELECT MAX(visitor_count.visitor_id)") for sql in statements
               if sql not in ranges)  # fmt: skip


@pytest.mark.parametrize("fold_when", ["before the rollup read", "after the rollup read"])
def test_a_cache_miss_racing_a_fold_counts_each_row_once(
    library, small_chunks, monkeypatch, fold_when
):
    """A fold committing while the miss reads (forced on every run, just before or just after
    its read of today's rollup): no row counted twice, none missed."""
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00", member_id="M8")
        build()
    for hour in (9, 10, 11):
        library.visit(f"2026-11-25 {hour:02d}:00:00", member_id=f"M{hour}")
    read_rollup = visit_rollups.visits_on
    folds = []

    def the_worker_folds(day, generation=None):
        if fold_when == "after the rollup read":
            folded = read_rollup(day, generation)
        if not folds:  # once: the worker's tick commits the new rows right now
            state = counting.visit_rollups_state()
            folds.append(engine.fold(visit_rollups.SOURCE, state, budget_seconds=10))
        if fold_when == "before the rollup read":
            folded = read_rollup(day, generation)
        return folded

    monkeypatch.setattr(visit_rollups, "visits_on", the_worker_folds)
    with at(2026, 11, 25, 11, 30):
        assert counting.count_without_folding(date(2026, 11, 25)) == 4
    assert folds and folds[0].caught_up


def test_an_import_block_larger_than_the_table_leaves_todays_count_exact(
    library, small_chunks, monkeypatch
):
    """The issue's case: this morning's check-ins, then an import of earlier years' guest book
    at the highest ids, then this afternoon's check-ins."""
    with at(2026, 11, 25, 10, 0):
        for hour in (8, 9, 10):
            library.visit(f"2026-11-25 {hour:02d}:00:00", member_id=f"M{hour}")
        build()
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 3
    for n in range(40):  # more rows than the table held, dated over the last three years
        library.visit(f"{2023 + n % 3}-0{1 + n % 9}-1{n % 10} 10:00:00", name=f"Tamu {n}")
    library.visit("2026-11-25 13:00:00", member_id="M13")
    library.visit("2026-11-25 14:00:00", member_id="M14")
    library.visit("2026-11-26 09:00:00", name="Jam salah")  # a desk PC's clock a day ahead
    # One chunk per tick: most of the import is still above the watermark after the tick.
    monkeypatch.setattr(counting, "TICK_FOLD_SECONDS", 0)
    monkeypatch.setattr(counting, "UNFOLDED_WINDOW_IDS", 5)
    with at(2026, 11, 25, 14, 30):
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 5
        assert RollupState.objects.get(live=True, source="visits").last_id < 40
        while loop.tick() == "ok" and engine.highest_id(visit_rollups.SOURCE) > (
            RollupState.objects.get(live=True, source="visits").last_id
        ):
            assert publishing.published()["total"] == 5
        assert publishing.published()["total"] == 5
        assert VisitDay.objects.get(day=date(2026, 11, 25)).total == 5
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_the_exact_recount_repairs_todays_count_after_a_deletion(library, caplog):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        library.visit("2026-11-25 09:00:00")
        build()
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 2
        assert loop.reconcile_tick() == "ok"  # nothing to correct: nothing logged
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-25 09:00:00'")
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 2  # ticks only fold new rows
        assert loop.reconcile_tick() == "ok"
        assert publishing.published()["total"] == 1
    corrections = [r.getMessage() for r in caplog.records if "corrected" in r.getMessage()]
    assert corrections == [
        "today's count corrected by the exact recount: 2 -> 1 (rows deleted or re-dated)"
    ]


def test_health_reports_the_watermark_as_the_fast_loops_baseline(library, client):
    """Once the rollups are built, a delta tick starts from their watermark: the highest
    visitor_id folded, with no separate baseline count."""
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00", visitor_id=7)
        library.visit("2026-11-24 09:00:00", visitor_id=9)
        build()
        assert loop.tick() == "ok"
        fast_loop = client.get("/health").json()["checks"]["fast_loop"]
    assert fast_loop["baseline"] == {"id": 9, "count": None}


def test_during_the_first_build_ticks_leave_the_build_to_its_own_pace(library, small_chunks):
    """Until the first build is over, the fast loop counts by its baseline: a tick never
    folds the build's rows itself (the build is paced to spare SLiMS)."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        state = engine.ensure_live(visit_rollups.SOURCE)
        engine.fold(visit_rollups.SOURCE, state, budget_seconds=0)
        state.refresh_from_db()
        watermark = state.last_id
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 1
        state.refresh_from_db()
        assert state.last_id == watermark and state.built_at is None


def test_in_incremental_mode_the_recount_reads_todays_rollup_not_a_scan(library, settings):
    settings.TODAY_COUNT_MODE = "incremental"
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        library.visit("2026-11-25 09:30:00")
        build()
        library.visit("2026-11-25 09:45:00")  # above the watermark: folded by the recount
        statements = []
        with connections["library"].execute_wrapper(
            lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
        ):
            assert loop.reconcile_tick() == "ok"
        assert publishing.published()["total"] == 3
    # Only rows above the watermark were read: no statement filtered the table by date.
    assert statements and not [sql for sql in statements if "checkin_date` >=" in quoted(sql)]


def test_a_day_without_visits_yet_counts_zero_and_needs_no_correction(library, caplog):
    with at(2026, 11, 26, 7, 0):
        a_library(library)
        build()
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 0
        assert loop.reconcile_tick() == "ok"
        assert publishing.published()["total"] == 0
    assert "corrected" not in caplog.text
    # Daily totals for a range are that range's, as the scan counts them.
    for since, until in [
        (date(2026, 11, 2), date(2026, 11, 24)),
        (date(2023, 1, 1), date(2025, 12, 31)),
    ]:
        expected = visit_selectors.daily_visit_totals(since=since, until=until)
        assert visit_rollups.daily_visit_totals(since=since, until=until) == expected


def test_the_exact_recount_counts_todays_rows_and_no_others(library, caplog):
    """Today's recount goes over the id range of today's folded rows: rows typed in late for
    yesterday, a row dated tomorrow among them and a row not folded yet are not today's."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        assert loop.tick() == "ok"
        library.visit("2026-11-25 09:30:00")
        library.visit("2026-11-24 17:00:00")  # yesterday's paper sheet
        library.visit("2026-11-26 08:00:00")  # a desk PC's clock a day ahead
        library.visit("2026-11-25 09:40:00")
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 3
        library.visit("2026-11-25 09:50:00")  # above the watermark until the recount folds it
        assert loop.reconcile_tick() == "ok"
        assert publishing.published()["total"] == 4
        assert_rollups_match_a_full_recount(date(2026, 11, 25))
    assert "corrected" not in caplog.text


def test_a_fold_landing_during_the_exact_recount_is_kept(library, settings):
    """A tick's fold moves the watermark between the recount's count and its update: the
    recount gives way instead of writing a figure that misses the folded row."""
    if connections["library"].vendor == "sqlite":
        pytest.skip("SQLite takes no write while a read statement is open")
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        assert loop.tick() == "ok"
        state = RollupState.objects.get(live=True, source="visits")
        landed = []

        def a_visit_folded_after_the_count(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if not landed and "COUNT(" in sql and "visitor_id` >=" in quoted(sql):
                landed.append(library.visit("2026-11-25 09:45:00"))
                fresh = RollupState.objects.get(pk=state.pk)
                engine.fold(visit_rollups.SOURCE, fresh, budget_seconds=60)
            return result

        with connections["library"].execute_wrapper(a_visit_folded_after_the_count):
            assert loop.reconcile_tick() == "ok"
        assert landed
        assert publishing.published()["total"] == 2
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_a_days_first_visits_folded_together_are_all_in_its_recount(library, caplog):
    """Three check-ins folded in one chunk: the day's id range starts at the first of them, so
    the exact recount finds all three and corrects nothing."""
    with at(2026, 11, 25, 10, 0):
        for hour in ("08:00", "08:30", "09:00"):
            library.visit(f"2026-11-25 {hour}:00")
        build()
        assert loop.tick() == "ok"
        assert loop.reconcile_tick() == "ok"
        assert publishing.published()["total"] == 3
    assert "corrected" not in caplog.text


def test_a_tick_with_nothing_new_asks_slims_one_primary_key_question(library, settings):
    """Most ticks find no new row: one probe above the watermark (a single index entry, no
    chunk read with its columns and collation keys), the rollup state read once, and the
    count unchanged; the next row is folded by the next tick."""
    from django.test.utils import CaptureQueriesContext

    settings.VISITOR_SYNC_BUFFER_MS = 0
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00", member_id="M1")
        build()
        assert loop.tick() == "ok"
        with (
            CaptureQueriesContext(connections["library"]) as slims,
            CaptureQueriesContext(connections["default"]) as own,
        ):
            assert loop.tick() == "ok"
        statements = [
            re.sub(r"[`\"]", "", sql) for sql in library_statements(slims.captured_queries)
        ]
        assert len(statements) == 1, statements
        assert "visitor_id > 1" in statements[0] and "LIMIT 1" in statements[0]
        assert "member_name" not in statements[0]
        # Read once (a statement slower than any before it also records its time there).
        table = RollupState._meta.db_table
        states = [q["sql"] for q in own.captured_queries
                  if table in q["sql"] and q["sql"].startswith("SELECT")]  # fmt: skip
        assert len(states) == 1, states
        assert publishing.published()["total"] == 1
        library.visit("2026-11-25 09:00:00", member_id="M2")
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 2
