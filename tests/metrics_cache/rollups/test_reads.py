"""Top lists read from the rollups: ties at the cutoff, names as on the latest row in the
period, grouping as the library's collation does, every period edge equal to a full recount.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand (assert_rollups_match_a_full_recount, in tests.support.rollups).
"""

from __future__ import annotations

from datetime import date

import pytest

from demo.writer import library_writer
from metrics_cache.rollups import engine, jobs, reads
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
from visitors.models import VisitorTally

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


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


def test_a_guest_written_with_a_blank_member_id_is_listed_without_one(library):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-24 09:00:00", member_id="", name="Tamu", institution="SMA 1")
        library.visit("2026-11-24 10:00:00", member_id="", name="Tamu", institution="SMA 1")
        build()
        (guest,) = every_metric(RunContext(date(2026, 11, 25)))["top_visitors_month"]
        assert (guest["member_id"], guest["total"]) == (None, 2)
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


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


def test_keys_counted_leave_out_keys_at_zero_once_and_keys_seen_only_after_until(library):
    """A year's keys: members with visits up to `until`, not those whose visits were all
    deleted (their tallies left at zero, the year's and a later day's) nor those who came only
    after `until`; guests are another kind of key."""
    with at(2026, 11, 25, 10, 0):
        build()
        live = engine.live_state("visits").generation

        def tally(key: str, grain: str, bucket: date, total: int) -> None:
            VisitorTally.objects.create(generation=live, grain=grain, bucket=bucket, key=key,
                                        total=total)  # fmt: skip

        year = date(2026, 1, 1)
        for key, year_total, later in (
            ("m:counted", 3, 1),  # one of three visits after `until`
            ("m:gone", 0, 0),  # every visit deleted since: zero everywhere
            ("m:later", 2, 2),  # every visit after `until`
            ("m:later-too", 1, 1),
            ("m:zero-year", 0, None),
            ("g:guest", 5, None),
        ):
            tally(key, reads.GRAIN_YEAR, year, year_total)
            if later is not None:
                tally(key, reads.GRAIN_DAY, date(2026, 11, 20), later)
        # Rows of other buckets and grains: a day on 1 January and before `until`, the month,
        # last year's year left at zero, and next year's first days.
        tally("m:counted", reads.GRAIN_DAY, year, 2)
        tally("m:counted", reads.GRAIN_DAY, date(2026, 11, 5), 1)
        tally("m:counted", "M", date(2026, 12, 1), 2)
        tally("m:counted", reads.GRAIN_YEAR, date(2025, 1, 1), 0)
        tally("m:later", reads.GRAIN_DAY, date(2027, 1, 5), 1)
        assert visit_rollups.members_counted(year, date(2026, 11, 10)) == 1
