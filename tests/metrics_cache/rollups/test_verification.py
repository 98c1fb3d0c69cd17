"""The weekly verification: drift (rows deleted or re-dated, copies moved) repaired in a second
generation swapped in whole and logged; until the swap the live rollups alone answer.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand (assert_rollups_match_a_full_recount, in tests.support.rollups).
"""

from __future__ import annotations

import logging
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from books import rollups as book_rollups
from books.models import LoanDay, LoanTally
from demo.writer import library_writer
from metrics_cache.rollups import engine, jobs, sources, verification
from metrics_cache.rollups.models import RollupState, RollupVerification
from metrics_cache.snapshots.context import RunContext
from tests.support.library import library_test
from tests.support.rollups import (
    ScanContext,
    a_library,
    assert_rollups_match_a_full_recount,
    at,
    build,
    every_metric,
)
from visitors import rollups as visit_rollups
from visitors.models import VisitDay, VisitorTally

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


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
