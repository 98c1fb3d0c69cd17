"""The per-day groupings read and count only the live generation of the rollups: while the
weekly drift check folds another beside it, that one's facts, counts and stale days are left
alone, and a report answers as before."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.utils import timezone

from books import annual as book_annual
from books import circulation
from books.models import ItemCopy, LoanBreakdown, LoanDay, LoanFact
from books.reports import by_class
from metrics_cache.reports import breakdowns, catalog
from metrics_cache.reports.catalog import copy_lookups
from metrics_cache.reports.periods import Period
from metrics_cache.rollups import engine
from tests.support.library import library_test
from tests.support.rollups import at, build
from visitors import reports as visit_reports
from visitors.models import VisitHour, VisitHourMonth

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

OTHER = 999  # a generation being folded beside the live one
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


def test_another_generation_s_rows_are_never_read_counted_or_touched(library):
    library.item(library.biblio("Fisika", classification="530"), "B1")
    library.loan("B1", None, "2026-11-02")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        catalog.after_folds(timezone.localdate())
        before = by_class(NOVEMBER).items
        live = engine.live_state("loans").generation
        fact = LoanFact.objects.get(generation=live)
        day = LoanDay.objects.get(generation=live, day=date(2026, 11, 2))
        # The other generation: the same loan's fact, its day stale, a count of its own.
        LoanFact.objects.create(generation=OTHER, loan_id=fact.loan_id, day=fact.day,
                                item_id=fact.item_id, member_id=fact.member_id)  # fmt: skip
        LoanDay.objects.create(generation=OTHER, day=day.day, total=1, first_id=day.first_id,
                               last_id=day.last_id, breakdowns_stale=True)  # fmt: skip
        LoanBreakdown.objects.create(generation=OTHER, day=day.day, dimension="class",
                                     value="=500", total=7)  # fmt: skip
        assert by_class(NOVEMBER).items == before
        LoanDay.objects.filter(pk=day.pk).update(breakdowns_stale=True)  # the live day again
        assert breakdowns.refresh(catalog.reports()["loans"].groupings, until=day.day) == 1
        assert by_class(NOVEMBER).items == before
        # And through the API (its answer is computed here: nothing cached before).
        api = {"from": "2026-11-01", "to": "2026-11-30", "by": "class"}
        assert Client().get("/api/reports/loans", api).json()["data"] == before
    assert before[5] == {"class": "500", "total": 1}
    assert LoanDay.objects.get(generation=OTHER).breakdowns_stale
    assert LoanBreakdown.objects.get(generation=OTHER).total == 7


def test_nothing_is_counted_before_the_rollups_exist(library):
    with at(2026, 12, 5, 11, 0):
        groupings = catalog.reports()["loans"].groupings
        assert breakdowns.refresh(groupings, until=date(2026, 12, 4)) == 0


def test_visits_by_hour_and_lent_today_read_only_the_live_generation(library):
    library.visit("2026-11-02 09:00:00", member_id=None, room="R1")
    library.loan("B1", None, "2026-12-05")
    with at(2026, 12, 5, 11, 0):
        # Before the live one's: the first row of the day in the table.
        LoanDay.objects.create(generation=OTHER, day=date(2026, 12, 5), total=9, first_id=1,
                               last_id=1)  # fmt: skip
        build()
        circulation.refresh()
        slot = {"generation": OTHER, "weekday": 1, "hour": 9, "has_room": True,
                "room_code": "R1", "guest": True, "total": 5}  # fmt: skip
        for month in (date(2026, 10, 1), date(2026, 11, 1)):
            VisitHourMonth.objects.create(month=month, **slot)
        VisitHour.objects.create(day=date(2026, 11, 2), **slot)
        # A whole month (October), edge days (2 November) and the circulation's day.
        hours = visit_reports.by_hour(Period(date(2026, 10, 1), date(2026, 11, 2))).items
        circulation_now = circulation.now(date(2026, 12, 5))
    assert sum(item["total"] for item in hours) == 1
    assert circulation_now["loaned_today"] == 1


def test_copies_never_borrowed_count_only_the_live_generation_s_loans(library):
    book = library.biblio("Fisika", classification="530")
    for code in ("B1", "B2", "B3"):
        library.item(book, code)
    library.loan("B1", None, "2026-11-02")
    library.loan(None, None, "2026-11-03")  # a loan without a copy
    with at(2026, 12, 5, 11, 0):
        build()
        fact = LoanFact.objects.get(generation=engine.live_state("loans").generation,
                                    item__isnull=False)  # fmt: skip
        copy_lookups()
        b2 = ItemCopy.objects.exclude(pk=fact.item_id).order_by("pk").first()
        LoanFact.objects.create(generation=OTHER, loan_id=99, day=fact.day, item_id=b2.pk)
        assert book_annual.count_never_borrowed() == 2  # the two never lent in the live one


def test_a_changed_member_makes_stale_only_the_live_generation_s_days_of_its_facts(library):
    library.member_type(1, "Siswa")
    library.member("S1", "Siti", member_type=1)
    library.member("S2", "Sari", member_type=1)
    library.loan("B1", "S1", "2026-11-02")
    library.loan("B2", "S2", "2026-11-03")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        catalog.after_folds(timezone.localdate())
        live = engine.live_state("loans").generation
        s1 = LoanFact.objects.get(generation=live, day=date(2026, 11, 2)).member_id
        # The other generation: S1's loan on 3 November, and its own day there, counted.
        LoanFact.objects.create(generation=OTHER, loan_id=98, day=date(2026, 11, 3), member_id=s1)
        LoanDay.objects.create(generation=OTHER, day=date(2026, 11, 2), total=1, first_id=1,
                               last_id=1, breakdowns_stale=False)  # fmt: skip
        library.execute("UPDATE member SET member_type_id = 2 WHERE member_id = 'S1'")
        copy_lookups()
        stale = LoanDay.objects.filter(breakdowns_stale=True, day__lt="2026-12-05")
    assert list(stale.values_list("generation", "day")) == [(live, date(2026, 11, 2))]
