"""Rollups: every row folded once on its own date, whatever its id and however folds race;
builds resume; chunks follow the last read's time.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand (assert_rollups_match_a_full_recount, in tests.support.rollups).
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.utils import timezone

from metrics_cache.rollups import engine
from metrics_cache.rollups.models import RollupState
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.today import loop, publishing
from tests.support.library import library_test
from tests.support.rollups import (
    a_library,
    assert_rollups_match_a_full_recount,
    at,
    build,
)
from visitors import rollups as visit_rollups
from visitors.models import VisitDay

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


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
            return original(generation, chunk, day)

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


def test_the_live_generation_is_read_as_the_orm_reads_it(library, monkeypatch):
    """live_state runs a read built once: the same generation and fields as the ORM's own read,
    whichever source, whatever other generations lie beside it."""
    monkeypatch.setattr(engine, "_LIVE_READ", {})  # built here, not by an earlier test
    fingerprint = engine.library_fingerprint()
    common = {"library": fingerprint, "fold_version": engine.FOLD_VERSION}
    with at(2026, 11, 25, 10, 0):
        RollupState.objects.create(source="visits", generation=1, live=False, **common)
        RollupState.objects.create(source="visits", generation=2, live=True, last_id=41,
                                   built_at=timezone.now(), past_revision=3, **common)  # fmt: skip
        RollupState.objects.create(source="visits", generation=3, live=False, **common)
        RollupState.objects.create(source="loans", generation=7, live=True, last_id=9, **common)
    for source, generation in (("visits", 2), ("loans", 7)):
        read = engine.live_state(source)
        expected = RollupState.objects.filter(source=source, live=True).first()
        assert read.generation == generation
        assert [getattr(read, f.attname) for f in RollupState._meta.fields] == [
            getattr(expected, f.attname) for f in RollupState._meta.fields
        ]
    assert engine.live_state("other") is None
    assert len(engine._LIVE_READ) == 1, "built once"
    RollupState.objects.filter(source="loans").update(library="elsewhere")
    assert engine.live_state("loans") is None, "another library database's rollups"
    RollupState.objects.filter(source="visits").update(fold_version=engine.FOLD_VERSION - 1)
    assert engine.live_state("visits") is None, "rollups of an older shape"
