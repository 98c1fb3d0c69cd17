"""The rollups' writes: rows merged into what is stored, across folds and statements.

What a second fold finds in the rollup tables (written by the first) is read back and merged
with what it folds; these tests fold in several steps and check the figures a screen shows.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections

from metrics_cache.rollups import engine, jobs, tallies
from tests.support.library import library_test
from visitors import rollups as visit_rollups
from visitors.models import VisitDay, VisitorTally

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


def build() -> None:
    while not jobs.build_step():
        pass


def test_a_late_entry_later_in_the_day_names_the_visitor_after_a_later_fold(library):
    """The stored latest visit (09:00 in the library's zone, 02:00 UTC) is compared with a late
    entry at 12:00 as instants: the later visit names the member, whatever zone each side of
    the comparison was stored in (the tests' library is in Asia/Jakarta)."""
    library.member("M1", "Ani")
    library.visit("2026-11-20 09:00:00", member_id="M1", name="Ani (morning)")
    with at(2026, 11, 21, 8, 0):
        build()
    library.visit("2026-11-20 12:00:00", member_id="M1", name="Ani (noon)")  # typed in late
    with at(2026, 11, 21, 9, 0):
        jobs.catch_up("visits")
        for since in (date(2026, 11, 1), date(2026, 1, 1)):
            (top,) = visit_rollups.top_visitors(since=since, until=date(2026, 11, 20))
            assert (top.member_name, top.total) == ("Ani (noon)", 2), since
    stored = VisitorTally.objects.get(grain="D", bucket=date(2026, 11, 20))
    assert stored.last_checkin == datetime(2026, 11, 20, 12, 0, tzinfo=JAKARTA)


def test_more_keys_than_one_statement_takes_are_read_in_batches(library, monkeypatch):
    """Stored rollup rows are looked up a batch of keys at a time (SQLite's variable limit):
    every batch, including a short last one, is merged, and none is read twice."""
    monkeypatch.setattr(tallies, "KEYS_PER_STATEMENT", 2)
    days = [date(2026, 11, day) for day in range(2, 7)]  # five days: batches of 2, 2, 1
    for day in days:
        library.visit(f"{day} 09:00:00", name="Guest")
    with at(2026, 11, 10, 8, 0):
        build()
    for day in days:
        library.visit(f"{day} 10:00:00", name="Guest")
    with at(2026, 11, 10, 9, 0):
        jobs.catch_up("visits")
    live = engine.live_state("visits").generation
    stored = VisitDay.objects.filter(generation=live).values_list("day", "total")
    assert sorted(stored) == [(day, 2) for day in days]


def test_keys_are_grouped_in_batches_of_the_statement_size():
    assert list(tallies.grouped(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(tallies.grouped(range(4), 2)) == [[0, 1], [2, 3]]
    assert list(tallies.grouped([], 2)) == []
    assert list(tallies.grouped(range(3))) == [[0, 1, 2]]  # up to KEYS_PER_STATEMENT


def test_a_row_with_more_values_than_columns_is_refused_not_cut(library):
    """A fold that built a row of the wrong shape fails; it never writes a shifted row."""
    row = (1, date(2026, 11, 20), 1, 10, 10, 99)
    with pytest.raises(ValueError, match="zip"):
        tallies.write_rows(
            VisitDay,
            ("generation", "day", "total", "first_id", "last_id"),
            ("generation", "day"),
            [row],
        )
    assert not VisitDay.objects.exists()


def test_dates_and_times_are_stored_as_the_orm_stores_them():
    """The rollups' own INSERT writes a row exactly as a model save would (times in UTC, dates
    as the backend keeps them): queries that compare or order the stored columns in SQL see
    one format, whichever path wrote the row."""
    checkin = datetime(2026, 11, 20, 12, 0, tzinfo=JAKARTA)
    values = {
        "grain": "D",
        "bucket": date(2026, 11, 20),
        "key": "m:a",
        "total": 1,
        "last_checkin": checkin,
        "last_visitor_id": 7,
        "member_id": "M1",
        "member_name": "Ani",
        "institution": None,
    }
    columns = (*tallies.SLOT, *visit_rollups.TALLIES.columns)
    tallies.write_rows(
        VisitorTally,
        columns,
        tallies.SLOT,
        [tuple({"generation": 1, **values}[c] for c in columns)],
    )
    VisitorTally.objects.create(generation=2, **values)
    table = connections["default"].ops.quote_name(VisitorTally._meta.db_table)
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SELECT bucket, last_checkin FROM {table} ORDER BY generation")
        by_rollups, by_orm = cursor.fetchall()
    assert by_rollups == by_orm
    assert VisitorTally.objects.get(generation=1).last_checkin == checkin


def test_on_the_first_of_january_a_days_month_and_year_buckets_stay_apart(library):
    """A visit on 1 January has a day, a month and a year bucket all dated 2027-01-01: a later
    fold adds to each of them once, never one grain's stored row into another's."""
    library.member("M1", "Ani")
    library.visit("2027-01-01 09:00:00", member_id="M1", name="Ani")
    with at(2027, 1, 1, 10, 0):
        build()
    library.visit("2027-01-02 09:00:00", member_id="M1", name="Ani")
    with at(2027, 1, 3, 8, 0):
        jobs.catch_up("visits")
        (top,) = visit_rollups.top_visitors(since=date(2027, 1, 1), until=date(2027, 1, 2))
        assert top.total == 2
    live = engine.live_state("visits").generation
    stored = VisitorTally.objects.filter(generation=live).values_list("grain", "bucket", "total")
    assert sorted(stored) == [
        ("D", date(2027, 1, 1), 1),
        ("D", date(2027, 1, 2), 1),
        ("M", date(2027, 1, 1), 2),
        ("Y", date(2027, 1, 1), 2),
    ]
