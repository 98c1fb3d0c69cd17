"""Rollups: every row folded once on its own date, whatever its id; builds resume; drift repairs.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.test import Client

from books import rollups as book_rollups
from books.models import LoanDay, LoanTally
from demo.writer import library_writer
from metrics_cache.rollups import engine, jobs, reads, sources, tallies, verification
from metrics_cache.rollups.models import RollupState, RollupVerification
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.today import counting, loop, publishing
from tests.support.library import library_test
from visitors import rollups as visit_rollups
from visitors import selectors as visit_selectors
from visitors.models import VisitDay, VisitorTally

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


class ScanContext(RunContext):
    """A run that never uses the rollups: the full recount from SLiMS."""

    def from_rollups(self, source: str) -> bool:
        return False


def every_metric(ctx: RunContext) -> dict:
    return {m.name: m.compute(ctx, m.period(ctx.today)) for m in METRICS}


def assert_rollups_match_a_full_recount(day: date) -> None:
    ctx = RunContext(day)
    from_rollups = every_metric(ctx)
    assert ctx.from_rollups("visits") and ctx.from_rollups("loans")
    assert from_rollups == every_metric(ScanContext(day))


def quoted(sql: str) -> str:
    """SQL with SQLite's identifier quotes written as MariaDB's."""
    return sql.replace('"', "`")


def build() -> None:
    while not jobs.build_step():
        pass


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows and batches of two chunks, so a handful of rows spans many."""
    monkeypatch.setattr(engine, "FOLD_BATCH_ROWS", 6)
    monkeypatch.setattr(engine, "CHUNK_FIRST_ROWS", 3)
    monkeypatch.setattr(engine, "CHUNK_MIN_ROWS", 3)
    monkeypatch.setattr(engine, "CHUNK_MAX_ROWS", 3)
    monkeypatch.setattr(engine, "BUILD_PAUSE_SECONDS", 0)
    monkeypatch.setattr(jobs, "BUILD_PAUSE_SECONDS", 0)


@pytest.fixture(autouse=True)
def delta_mode(settings):
    settings.TODAY_COUNT_MODE = "delta"
    settings.VISITOR_SYNC_BUFFER_MS = 0


def a_library(library) -> None:
    """Members, guests, titles, copies and loans over several years, in date order."""
    library.member("M1", "Ani Wijaya")
    library.member("M2", "Budi Santoso")
    first = library.item(library.biblio("Laskar Pelangi"))
    second = library.item(library.biblio("Bumi Manusia"))
    library.item(None)
    for checkin, member in [
        ("2023-03-01 09:00:00", "M1"),
        ("2025-06-01 10:00:00", "M2"),
        ("2026-02-03 11:00:00", "M1"),
        ("2026-11-02 08:00:00", "M2"),
        ("2026-11-20 08:00:00", "M1"),
        ("2026-11-24 12:00:00", None),
        ("2026-11-25 09:00:00", "M1"),
    ]:
        library.visit(checkin, member_id=member, name="Guest" if member is None else member)
    for loan_date, item, member in [
        ("2024-01-05", first, "M1"),
        ("2026-03-03", second, "M2"),
        ("2026-11-03", first, "M2"),
        ("2026-11-24", second, "M1"),
        ("2026-11-25", first, None),
    ]:
        library.loan(item, member, loan_date)


def library_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "visitor_count" in q["sql"]]


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


def test_rows_in_hostile_id_orders_are_counted_on_their_own_dates(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    # After the build: a late paper sheet for last week, a desk clock a year behind, one a day
    # ahead (dated tomorrow), last month's loans typed in today, and an old loan.
    library.visit("2026-11-19 15:00:00", member_id="M2", name="Budi S. (renamed)")
    library.visit("2025-11-25 09:30:00", member_id="M1")
    library.visit("2026-11-26 09:30:00", member_id="M1")
    library.visit("2026-11-25 09:45:00", member_id="M2")
    library.loan("T000002", "M2", "2026-10-30")
    library.loan("T000001", "M1", "2021-07-07")
    with at(2026, 11, 26, 0, 5):
        ctx = RunContext(date(2026, 11, 26))
        weekly = next(m for m in METRICS if m.name == "weekly")
        totals = [row["total"] for row in weekly.compute(ctx, weekly.period(ctx.today))]
        # 19th .. 25th by hand: the late sheet on the 19th, 20th, 24th, two on the 25th.
        assert totals == [1, 1, 0, 0, 0, 1, 2]
        assert_rollups_match_a_full_recount(date(2026, 11, 26))
        # The row dated tomorrow counts tomorrow, not in any period ending yesterday.
        assert VisitDay.objects.get(day=date(2026, 11, 26)).total == 1


def test_a_build_that_crashes_resumes_where_it_stopped(library, small_chunks, monkeypatch):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        original = visit_rollups.SOURCE.fold
        calls = []

        def crash_on_second_batch(generation, chunk, day):
            calls.append(len(chunk))
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            original(generation, chunk, day)

        monkeypatch.setattr(visit_rollups.SOURCE, "fold", crash_on_second_batch)
        with pytest.raises(RuntimeError):
            build()
        state = RollupState.objects.get(source="visits", live=True)
        assert state.last_id == 6 and state.built_at is None  # only the first batch landed
        assert sum(VisitDay.objects.values_list("total", flat=True)) == 6
        monkeypatch.setattr(visit_rollups.SOURCE, "fold", original)
        build()
        state.refresh_from_db()
        assert state.rows_folded == 7 and state.built_at is not None
        assert sum(VisitDay.objects.values_list("total", flat=True)) == 7
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_two_folds_racing_fold_each_row_once(library):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        source = visit_rollups.SOURCE
        state = engine.ensure_live(source)
        rival = RollupState.objects.get(pk=state.pk)
        chunk = engine.read_chunk(source, after=0, limit=100, upto=None)
        assert engine.fold_chunk(source, state, chunk, date(2026, 11, 25))
        # The rival read the same rows before the first fold committed: it must not count them.
        assert not engine.fold_chunk(source, rival, chunk, date(2026, 11, 25))
        assert VisitDay.objects.get(day=date(2026, 11, 25)).total == 1


def test_concurrent_folds_in_threads_count_every_row_once(library):
    with at(2026, 11, 25, 10, 0):
        for minute in range(30):
            library.visit(f"2026-11-25 08:{minute:02d}:00")
        state = engine.ensure_live(visit_rollups.SOURCE)
        barrier = threading.Barrier(2, timeout=10)
        errors = []

        def fold_once():
            try:
                mine = RollupState.objects.get(pk=state.pk)
                barrier.wait()
                engine.fold(visit_rollups.SOURCE, mine, budget_seconds=5)
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                from django.db import connections

                connections.close_all()

        threads = [threading.Thread(target=fold_once) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        engine.fold(visit_rollups.SOURCE, engine.live_state("visits"), budget_seconds=5)
        assert VisitDay.objects.get(day=date(2026, 11, 25)).total == 30


def test_midnight_between_two_folds_and_month_and_year_ends(library, small_chunks):
    with at(2026, 12, 31, 23, 59):
        library.member("M1", "Ani")
        library.visit("2026-12-31 23:58:00", member_id="M1")
        library.visit("2026-11-30 10:00:00", member_id="M1")
        build()
    library.visit("2026-12-31 23:59:30", member_id="M1", name="Ani W.")  # folded after midnight
    library.visit("2027-01-01 00:00:10", member_id="M1")
    with at(2027, 1, 1, 0, 5):
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == 1
        assert VisitDay.objects.get(day=date(2026, 12, 31)).total == 2
        assert_rollups_match_a_full_recount(date(2027, 1, 1))
        engine.compact_live(visit_rollups.SOURCE, date(2027, 1, 1))
        assert set(visit_rollups.VisitorTally.objects.values_list("grain", "bucket")) == {
            ("Y", date(2026, 1, 1)),
            ("Y", date(2027, 1, 1)),
            ("M", date(2027, 1, 1)),
            ("D", date(2027, 1, 1)),
        }
        assert_rollups_match_a_full_recount(date(2027, 1, 1))
    with at(2027, 2, 1, 0, 5):
        assert_rollups_match_a_full_recount(date(2027, 2, 1))


def test_verification_repairs_deleted_and_redated_rows(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-20 08:00:00'")
            cursor.execute(
                "UPDATE loan SET loan_date = '2026-11-04' WHERE loan_date = '2026-11-03'"
            )
        out = StringIO()
        call_command("rebuild_rollups", stdout=out)
        assert "visits: recomputed 6 rows" in out.getvalue()
        visits = RollupVerification.objects.get(source="visits")
        assert (visits.status, visits.days_differing, visits.total_before, visits.total_after) == (
            "swapped", 1, 7, 6,
        )  # fmt: skip
        assert visits.examples == [{"day": "2026-11-20", "before": 1, "after": 0}]
        loans = RollupVerification.objects.get(source="loans")
        assert (loans.days_differing, loans.total_before, loans.total_after) == (2, 5, 5)
        assert RollupState.objects.filter(source="visits").count() == 1
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_guests_group_as_the_library_collation_does(library):
    for name, institution in [
        ("Budi Santoso", "UI"),
        ("budi santoso ", "ui"),
        ("Budi Santoso", None),
        ("Budi Santoso", ""),
        ("Siti", "UI"),
    ]:
        library.visit("2026-11-20 10:00:00", name=name, institution=institution)
    library.visit("2026-11-21 10:00:00", member_id="M1", name="Ani")
    library.visit("2026-11-22 10:00:00", member_id="m1 ", name="Ani W.")
    with at(2026, 11, 25, 10, 0):
        build()
        top = visit_rollups.top_visitors(since=date(2026, 11, 1), until=date(2026, 11, 24))
        rows = [(v.member_id, v.member_name, v.institution, v.total) for v in top]
        if library.connection.vendor != "mysql":  # the demo's NOCASE: trailing spaces count
            assert_rollups_match_a_full_recount(date(2026, 11, 25))
            return
        # utf8_unicode_ci: case and trailing spaces do not count; NULL and '' stay apart. A
        # member is named by their latest visit (the scan names them by the visits whose id is
        # written exactly as the group's first, so the two differ here by design).
        assert rows == [
            ("m1 ", "Ani W.", "Fakultas Ekonomi", 2),
            (None, "budi santoso ", "ui", 2),
            (None, "Budi Santoso", None, 1),
            (None, "Budi Santoso", "", 1),
            (None, "Siti", "UI", 1),
        ]


def test_nightly_run_reads_only_the_new_rows(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    library.visit("2026-11-25 18:00:00", member_id="M2")
    library.loan("T000001", "M2", "2026-11-25")
    with at(2026, 11, 26, 0, 5):
        assert jobs.catch_up("visits").rows == 1
        assert jobs.catch_up("loans").rows == 1
        assert_rollups_match_a_full_recount(date(2026, 11, 26))


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


def test_health_shows_a_first_build_in_progress(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        engine.fold(
            visit_rollups.SOURCE, engine.ensure_live(visit_rollups.SOURCE), budget_seconds=0
        )
        body = Client().get("/health").json()
        assert body["checks"]["rollups"]["visits"]["state"] == "building"
        assert 0 < body["checks"]["rollups"]["visits"]["progress"] < 1
        assert body["checks"]["rollups"]["loans"]["state"] == "not started"
        build()
        body = Client().get("/health").json()
        assert body["checks"]["rollups"]["visits"]["state"] == "ready"
        assert body["checks"]["rollups"]["visits"]["progress"] == 1.0
        visits = body["checks"]["rollups"]["visits"]
        # a_library's seven visits, ids 1 to 7, all folded.
        assert (visits["watermark"], visits["rows_folded"]) == (7, 7)
        assert visits["longest_statement_ms"] >= 0


def test_until_built_snapshots_are_computed_by_scanning(library):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        ctx = RunContext(date(2026, 11, 25))
        assert not ctx.from_rollups("visits")
        assert every_metric(ctx) == every_metric(ScanContext(date(2026, 11, 25)))


def test_a_copy_moved_to_another_title_counts_for_it_after_the_verification(library):
    """Loans are folded per title (the copy's title then): a catalogue correction that moves a
    copy, or deletes it, is drift, repaired by the weekly verification."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("UPDATE item SET biblio_id = 2 WHERE item_code = 'T000001'")
        top = book_rollups.top_borrowed_books(since=None, until=date(2026, 11, 24))
        assert [(b.title, b.total) for b in top] == [("Bumi Manusia", 2), ("Laskar Pelangi", 2)]
        call_command("rebuild_rollups", "--source", "loans", stdout=StringIO())
        top = book_rollups.top_borrowed_books(since=None, until=date(2026, 11, 24))
        assert [(b.title, b.total) for b in top] == [("Bumi Manusia", 4)]
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_a_verification_killed_midway_leaves_nothing_behind_the_next_one(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        source = visit_rollups.SOURCE
        abandoned = engine.start_generation("visits", highest_id=7, live=False)
        engine.fold(source, abandoned, budget_seconds=0)
        assert VisitDay.objects.filter(generation=abandoned.generation).exists()
        verification.verify("visits")
        assert list(RollupState.objects.filter(source="visits").values_list("live", flat=True)) == [
            True
        ]
        assert sum(VisitDay.objects.values_list("total", flat=True)) == 7
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_a_nightly_run_that_cannot_fold_everything_in_time_scans_instead(
    library, small_chunks, monkeypatch
):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    for n in range(20):
        library.visit(f"2026-11-{10 + n % 10} 10:00:00", name=f"Tamu {n}")
    monkeypatch.setattr(jobs, "CATCH_UP_SECONDS", 0)
    with at(2026, 11, 26, 0, 5):
        ctx = RunContext(date(2026, 11, 26))
        assert not ctx.from_rollups("visits")
        assert every_metric(ctx) == every_metric(ScanContext(date(2026, 11, 26)))


def test_top_lists_with_more_candidates_than_places_and_ties_at_the_cutoff(library):
    """Twelve candidates for ten places in every list, with a tie across the tenth place."""
    for n in range(12):
        member = library.member(f"M{n:02d}", f"Anggota {11 - n:02d}")
        code = library.item(library.biblio(f"Judul {11 - n:02d}"))
        times = 3 if n < 4 else 1  # four clear leaders, then eight tied for six places
        for k in range(times):
            library.visit(f"2026-11-{10 + k} 10:00:00", member_id=member)
            library.loan(code, member, f"2026-11-{10 + k}")
    with at(2026, 11, 25, 10, 0):
        build()
        ctx = RunContext(date(2026, 11, 25))
        data = every_metric(ctx)
        assert ctx.from_rollups("visits") and ctx.from_rollups("loans")
        assert [row["total"] for row in data["top_borrowed"]] == [3] * 4 + [1] * 6
        # Ties broken by name: the tied "Judul 00" .. "Judul 07" keep their six first.
        assert [row["title"] for row in data["top_borrowed"]][4:] == [
            f"Judul {n:02d}" for n in range(6)
        ]
        assert data == every_metric(ScanContext(date(2026, 11, 25)))
        # A leading title deleted from the catalogue takes no place; the next tied one moves up.
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM biblio WHERE title = 'Judul 11'")
        data = every_metric(RunContext(date(2026, 11, 25)))
        assert "Judul 11" not in [row["title"] for row in data["top_borrowed"]]
        assert len(data["top_borrowed"]) == 10
        assert data == every_metric(ScanContext(date(2026, 11, 25)))


def test_a_visitor_is_named_by_their_latest_visit_in_the_period_not_today(library):
    library.member("M1", "Ani")
    library.visit("2026-10-05 10:00:00", member_id="M1", name="Ani (October)")
    library.visit("2026-11-03 10:00:00", member_id="M1", name="Ani (November)")
    library.visit("2026-11-25 09:00:00", member_id="M1", name="Ani (today)")
    with at(2026, 11, 25, 10, 0):
        build()
        for since in (date(2026, 11, 1), date(2026, 1, 1)):
            (top,) = visit_rollups.top_visitors(since=since, until=date(2026, 11, 24))
            assert top.member_name == "Ani (November)"
        assert_rollups_match_a_full_recount(date(2026, 11, 25))
    with at(2026, 12, 1, 0, 5):
        jobs.catch_up("visits")  # compacts November's day buckets into the year
        assert not visit_rollups.VisitorTally.objects.filter(grain__in=("D", "M")).exists()
        (top,) = visit_rollups.top_visitors(since=date(2026, 1, 1), until=date(2026, 11, 30))
        assert (top.member_name, top.total) == ("Ani (today)", 3)
        assert_rollups_match_a_full_recount(date(2026, 12, 1))


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


def test_a_verification_reports_loans_per_day_and_keeps_only_the_live_generation(library):
    """Three loans on one day, one of them deleted and one moved to the next day since they
    were folded: the weekly verification shows those days' loans before and after, and the
    replaced generation's rows are gone (the tables would otherwise grow every week)."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        copy = library.item(library.biblio("Ronggeng Dukuh Paruk"))
        for member in ("M1", "M2", None):
            library.loan(copy, member, "2026-11-10")
        build()
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM loan WHERE loan_date = '2026-11-10' AND member_id = 'M2'")
            cursor.execute(  # to a day without loans
                "UPDATE loan SET loan_date = '2026-11-11', due_date = '2026-11-11'"
                " WHERE loan_date = '2026-11-10' AND member_id IS NULL"
            )
        call_command("rebuild_rollups", stdout=StringIO())
        loans = RollupVerification.objects.get(source="loans")
        assert loans.examples == [
            {"day": "2026-11-10", "before": 3, "after": 1},
            {"day": "2026-11-11", "before": 0, "after": 1},
        ]
        assert (loans.days_differing, loans.total_before, loans.total_after) == (2, 8, 7)
        assert_rollups_match_a_full_recount(date(2026, 11, 25))
    live = dict(RollupState.objects.filter(live=True).values_list("source", "generation"))
    for model, source in [(LoanDay, "loans"), (LoanTally, "loans"), (VisitDay, "visits"),
                          (VisitorTally, "visits")]:  # fmt: skip
        assert set(model.objects.values_list("generation", flat=True)) == {live[source]}, model


def test_on_the_second_of_a_month_the_months_top_lists_hold_the_first(library):
    """The month to yesterday is one day long: its lists are that day's, not empty."""
    with at(2026, 12, 2, 10, 0):
        a_library(library)
        copy = library.item(library.biblio("Ronggeng Dukuh Paruk"))
        library.loan(copy, "M2", "2026-12-01")
        library.visit("2026-12-01 09:00:00", member_id="M2", name="M2")
        build()
        figures = every_metric(RunContext(date(2026, 12, 2)))
        assert [b["title"] for b in figures["top_borrowed_month"]] == ["Ronggeng Dukuh Paruk"]
        assert [(b["member_id"], b["total"]) for b in figures["top_borrowers_month"]] == [("M2", 1)]
        assert [v["total"] for v in figures["top_visitors_month"]] == [1]
        assert_rollups_match_a_full_recount(date(2026, 12, 2))


def test_while_a_verification_recomputes_the_figures_read_only_the_live_rollups(library):
    """The weekly verification folds a second generation beside the live one; until the swap,
    every figure comes from the live one alone, even where the two differ (a row deleted
    since the live one folded it)."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        library.visit("2026-11-20 09:00:00")
        build()
        assert_rollups_match_a_full_recount(date(2026, 11, 25))
        before = every_metric(RunContext(date(2026, 11, 25)))
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-20 08:00:00'")
            cursor.execute("DELETE FROM loan WHERE loan_date = '2026-11-24'")
        for source in sources.sources().values():
            recomputed = engine.start_generation(
                source.name, highest_id=engine.highest_id(source), live=False
            )
            engine.fold(source, recomputed, budget_seconds=60)
        assert RollupState.objects.filter(live=False).count() == 2
        assert every_metric(RunContext(date(2026, 11, 25))) == before


def test_once_a_verification_swaps_the_figures_are_the_repaired_ones_before_the_old_are_dropped(
    library, monkeypatch
):
    """The swap marks the recomputed generation live; the old one (a lower number) is dropped
    after it. In between, every figure already comes from the repaired rollups."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-20 08:00:00'")
        source = sources.sources()["visits"]
        drop, between = source.drop, []

        def look_then_drop(generation: int) -> None:
            between.append(every_metric(RunContext(date(2026, 11, 25))))
            drop(generation)

        monkeypatch.setattr(source, "drop", look_then_drop)
        verification.verify("visits", pause_seconds=0)
        assert between == [every_metric(ScanContext(date(2026, 11, 25)))]


def test_the_loans_of_ended_months_are_compacted_into_their_year(library):
    """After a month ends its loans' day and month buckets go (the year's keep the counts and
    each borrower's code), so the tallies do not grow with every day of history."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()  # this month's loans in day buckets
        assert LoanTally.objects.filter(grain="D", bucket=date(2026, 11, 24)).exists()
    with at(2027, 1, 1, 0, 5):
        engine.compact_live(book_rollups.SOURCE, date(2027, 1, 1))
        assert not LoanTally.objects.filter(
            grain__in=("D", "M"), bucket__lt=date(2027, 1, 1)
        ).exists()
        assert_rollups_match_a_full_recount(date(2027, 1, 1))


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


def test_a_guest_written_with_a_blank_member_id_is_listed_without_one(library):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-24 09:00:00", member_id="", name="Tamu", institution="SMA 1")
        library.visit("2026-11-24 10:00:00", member_id="", name="Tamu", institution="SMA 1")
        build()
        (guest,) = every_metric(RunContext(date(2026, 11, 25)))["top_visitors_month"]
        assert (guest["member_id"], guest["total"]) == (None, 2)
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_health_before_any_build_reports_both_sources_not_started(library, client):
    rollups_status = client.get("/health").json()["checks"]["rollups"]
    assert rollups_status == {
        "visits": {"state": "not started", "progress": 0.0},
        "loans": {"state": "not started", "progress": 0.0},
    }


def test_a_build_step_that_runs_out_of_time_says_the_build_goes_on(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        assert jobs.build_step(budget_seconds=0) is False
        steps = 1
        while not jobs.build_step(budget_seconds=0):
            steps += 1
        assert steps > 1
        assert {s["state"] for s in jobs.status().values()} == {"ready"}
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_no_verification_before_the_first_build_is_over(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        with pytest.raises(RuntimeError, match="visits rollups are still being built"):
            verification.verify("visits")  # nothing built
        jobs.build_step(budget_seconds=0)
        with pytest.raises(RuntimeError, match="visits rollups are still being built"):
            verification.verify("visits")  # building
        assert not RollupVerification.objects.exists()


def test_a_verification_that_cannot_line_up_fails_cleanly(library, monkeypatch):
    """Recorded as failed with its reason; its generation dropped; the live rollups serve on."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        live = RollupState.objects.get(source="visits", live=True)
        rows = VisitDay.objects.count()
        monkeypatch.setattr(verification, "SWAP_ATTEMPTS", 0)
        with pytest.raises(RuntimeError):
            verification.verify("visits")
        record = RollupVerification.objects.get(source="visits")
        assert record.status == "failed" and record.finished_at is not None
        assert record.examples == [
            {"error": "RuntimeError: could not line the recomputed rollups up with the live ones"}
        ]
        assert list(RollupState.objects.filter(source="visits")) == [live]
        assert VisitDay.objects.count() == rows
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_a_verification_logs_its_result_for_monitoring(library, caplog):
    """INFO when nothing differed, WARNING when it repaired something; the source, status and
    rows scanned as structured fields. The visit deleted was M1's: its day, month and year
    tallies differ; the one moved to M2 changes M1's and M2's day, month and year."""
    caplog.set_level(logging.INFO, logger="metrics_cache.rollups.verification")
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
        verification.verify("visits")
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("DELETE FROM visitor_count WHERE checkin_date = '2026-11-20 08:00:00'")
        verification.verify("visits")
        with library_writer() as writer, writer.cursor() as cursor:  # the same days, M2 for M1
            cursor.execute(
                "UPDATE visitor_count SET member_id = 'M2'"
                " WHERE checkin_date = '2026-11-25 09:00:00'"
            )
        verification.verify("visits")
    records = [r for r in caplog.records if r.name == "metrics_cache.rollups.verification"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("INFO", "rollup verification source=visits days_differing=0 tallies_differing=0"
                 " before=7 after=7"),
        ("WARNING", "rollup verification source=visits days_differing=1 tallies_differing=3"
                    " before=7 after=6"),
        ("WARNING", "rollup verification source=visits days_differing=0 tallies_differing=6"
                    " before=6 after=6"),
    ]  # fmt: skip
    # Rows scanned: 7, then 6 after the deletion.
    assert [(r.source, r.status, r.rows) for r in records] == [
        ("visits", "swapped", 7),
        ("visits", "swapped", 6),
        ("visits", "swapped", 6),
    ]


def test_a_verification_after_a_month_ended_finds_nothing_to_repair(library):
    """The live rollups still hold last month in day buckets until compacted; the recomputed
    ones do not: compared as they are, every ended day would look repaired."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    with at(2026, 12, 2, 10, 0):
        record = verification.verify("visits")
        assert (record.days_differing, record.tallies_differing) == (0, 0)
        assert_rollups_match_a_full_recount(date(2026, 12, 2))


def test_in_january_with_rows_on_the_first_and_rows_dated_ahead_every_list_is_a_recount(library):
    """Mid-January: the year, its first month and its first day share one bucket date (1
    January) in three grains, and a desk clock set ahead has put rows on tomorrow, next month
    and next year, by the same members and copies as this month's rows. Every figure equals the
    full recount: no grain is read for another, and no row dated ahead counts or is taken away
    from a period it is not in."""
    library.member("M1", "Ani Wijaya")
    library.member("M2", "Budi Santoso")
    library.member("M3", "Citra Lestari")
    library.member("M4", "Dewi Sartika")
    first = library.item(library.biblio("Laskar Pelangi"))
    second = library.item(library.biblio("Bumi Manusia"))
    third = library.item(library.biblio("Cantik Itu Luka"))
    rows = [
        ("2026-12-30", "M3", third),  # last year
        ("2027-01-01", "M1", first),
        ("2027-01-01", "M2", second),
        ("2027-01-01", "M1", first),
        ("2027-01-07", "M2", second),
        ("2027-01-10", "M1", first),  # the year, the month and 1 January now differ for M1
        ("2027-01-19", "M3", third),
        ("2027-01-20", "M2", second),  # today: in no period yet
        ("2027-01-21", "M3", third),  # dated ahead: tomorrow,
        ("2027-02-03", "M3", third),  # next month,
        ("2027-02-03", "M4", third),  # (M4: only rows dated ahead)
        ("2027-02-04", "M4", third),
        ("2028-01-05", "M3", third),  # and next year
        ("2028-01-05", "M2", second),
    ]
    for day, member, copy in rows:
        library.visit(f"{day} 09:00:00", member_id=member, name=member)
        library.loan(copy, member, day)
    with at(2027, 1, 20, 10, 0):
        build()
        figures = every_metric(RunContext(date(2027, 1, 20)))
        # Counted by hand: 1 to 19 January, and all time to yesterday.
        assert [(v["member_id"], v["total"]) for v in figures["top_visitors_month"]] == [
            ("M1", 3), ("M2", 2), ("M3", 1)
        ]  # fmt: skip
        assert figures["top_visitors_month"] == figures["top_visitors_year"]
        assert [(b["title"], b["total"]) for b in figures["top_borrowed"]] == [
            ("Laskar Pelangi", 3), ("Bumi Manusia", 2), ("Cantik Itu Luka", 2)
        ]  # fmt: skip
        assert_rollups_match_a_full_recount(date(2027, 1, 20))


def test_the_ranking_returns_who_can_take_a_place_and_no_one_else(library):
    """reads.top_totals, the walk behind every top list: the keys whose total in the period
    reaches the limit-th total (ties at the cutoff included), none below it, and none whose
    rows are all dated after the period (today's visitors)."""
    visits = {"M1": 6, "M2": 5, "M3": 4, "M4": 4, "M5": 3, "M6": 2, "M7": 1}
    for member, times in visits.items():
        library.member(member, member)
        for k in range(times):
            library.visit(f"2026-11-{2 + k:02d} 10:00:00", member_id=member)
    for _ in range(5):  # a busy morning today: a running total of 5, none of it in the period
        library.visit("2026-11-25 08:00:00", member_id="M8")
    library.visit("2026-11-25 08:30:00", member_id="M5")  # 3 in the period, 4 with today
    with at(2026, 11, 25, 10, 0):
        build()
        tallies = VisitorTally.objects.filter(generation=engine.live_state("visits").generation)
        keys = dict(tallies.filter(grain="D").values_list("key", "member_id"))

        def top(limit: int, since: date = date(2026, 11, 1)) -> dict[str, int]:
            totals = reads.top_totals(tallies, since, date(2026, 11, 24), limit)
            return {keys[key]: total for key, total in totals.items()}

        assert top(3) == {"M1": 6, "M2": 5, "M3": 4, "M4": 4}
        assert top(1) == {"M1": 6}
        assert top(4, date(2026, 1, 1)) == {"M1": 6, "M2": 5, "M3": 4, "M4": 4}
        # One place more than there are visitors in the period: still no one with 0.
        assert top(8) == visits


def test_mid_month_with_rows_on_the_first_and_rows_dated_next_month(library):
    """The month to yesterday (not the year's first): the month and its 1st share a bucket date
    in two grains, and rows dated next month (a desk clock set ahead) are in no period."""
    for member in ("M1", "M2", "M4"):
        library.member(member, member)
    copy = library.item(library.biblio("Laskar Pelangi"))
    for day, member in [
        ("2026-11-01", "M1"), ("2026-11-01", "M1"), ("2026-11-10", "M1"), ("2026-11-07", "M2"),
        ("2026-12-03", "M4"), ("2026-12-04", "M4"), ("2026-12-04", "M2"),
    ]:  # fmt: skip
        library.visit(f"{day} 09:00:00", member_id=member, name=member)
        library.loan(copy, member, day)
    with at(2026, 11, 25, 10, 0):
        build()
        figures = every_metric(RunContext(date(2026, 11, 25)))
        for name in ("top_visitors_month", "top_borrowers_month"):
            assert [(v["member_id"], v["total"]) for v in figures[name]] == [("M1", 3), ("M2", 1)]
        assert [b["total"] for b in figures["top_borrowed_month"]] == [4]
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_in_december_the_months_list_stops_at_yesterday_and_ignores_january(library):
    """December's month runs into next year: today's visits and a row dated 1 January (a desk
    clock set ahead) are outside the month to yesterday, and nothing is taken away for them."""
    library.member("M1", "Ani")
    for checkin in ["2026-12-03 09:00:00", "2026-12-04 09:00:00", "2026-12-15 08:00:00",
                    "2027-01-01 08:00:00"]:  # fmt: skip
        library.visit(checkin, member_id="M1", name="Ani")
    with at(2026, 12, 15, 10, 0):
        build()
        figures = every_metric(RunContext(date(2026, 12, 15)))
        assert [v["total"] for v in figures["top_visitors_month"]] == [2]
        assert_rollups_match_a_full_recount(date(2026, 12, 15))


def test_a_borrower_is_listed_as_written_on_their_latest_loan(library):
    """SLiMS compares member ids by its collation ("m1" is "M1"); a top list shows the id as
    written on the member's latest loan in the period, whether that loan's details sit in a day
    bucket or (an earlier month's) in the year's."""
    library.member("M1", "Ani")
    copy = library.item(library.biblio("Laskar Pelangi"))
    library.loan(copy, "m1", "2026-01-10")  # an earlier month: its details go to the year
    library.loan(copy, "m1", "2026-11-10")
    library.loan(copy, "M1", "2026-11-10")  # the same day, typed later: the latest
    with at(2026, 11, 25, 10, 0):
        build()
        figures = every_metric(RunContext(date(2026, 11, 25)))
    assert [(b["member_id"], b["total"]) for b in figures["top_borrowers_month"]] == [("M1", 2)]
    assert [(b["member_id"], b["total"]) for b in figures["top_borrowers_year"]] == [("M1", 3)]


def test_compaction_leaves_other_generations_alone(library):
    """A month's end is compacted in one generation (the live one, or the one a verification is
    folding): another generation's buckets of that month stay as they are."""
    library.member("M1", "Ani")
    library.visit("2026-10-05 09:00:00", member_id="M1", name="Ani")
    with at(2026, 10, 20, 10, 0):
        build()
    live = engine.live_state("visits").generation
    other = list(VisitorTally.objects.filter(generation=live).values())
    for row in other:
        row.update(id=None, generation=live + 1)
    VisitorTally.objects.bulk_create(VisitorTally(**row) for row in other)
    tallies.compact_tallies(visit_rollups.TALLIES, live, date(2026, 11, 25))
    compacted = VisitorTally.objects.filter(generation=live).values_list("grain", "total")
    untouched = VisitorTally.objects.filter(generation=live + 1).values_list("grain", "total")
    assert sorted(compacted) == [("Y", 1)]
    assert sorted(untouched) == [("D", 1), ("M", 1), ("Y", 1)]


def test_the_chunk_size_follows_the_last_statements_time():
    """The first build's chunks: a slow read shrinks the next chunk at once to the target time,
    a fast one grows it at most twofold, within the bounds; a short last chunk or a read too
    fast to time says nothing."""
    assert engine.ChunkSizer().rows == engine.CHUNK_FIRST_ROWS == 5_000
    assert engine.CHUNK_TARGET_SECONDS == 0.05
    assert (engine.CHUNK_MIN_ROWS, engine.CHUNK_MAX_ROWS) == (500, 100_000)
    assert engine.ChunkSizer(700).rows == 700

    def after(rows: int, read: int, seconds: float) -> int:
        sizer = engine.ChunkSizer(rows)
        sizer.update(read, seconds)
        return sizer.rows

    assert after(5_000, 5_000, 0.1) == 2_500  # twice the target: half the rows
    assert after(5_000, 5_000, 0.04) == 6_250
    assert after(5_000, 5_000, 0.001) == 10_000  # at most twice as many
    assert after(80_000, 80_000, 0.001) == 100_000
    assert after(1_000, 1_000, 1.0) == 500
    assert after(2_500, 100, 0.001) == 2_500  # the table's end: a short chunk
    assert after(2_500, 2_500, 0) == 2_500
