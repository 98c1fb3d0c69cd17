"""Visitor reads count in the library's local time, not UTC and not the database's clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.utils import timezone

from tests.support.library import library_test
from visitors import selectors
from visitors.selectors import (
    TopVisitor,
    daily_visit_totals,
    top_visitors,
    visits_on,
    visits_today_after,
    visits_today_exact,
)

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def test_local_midnight_splits_days_that_share_a_utc_date(library):
    # 23:59:59 and 00:00:00 in Jakarta (UTC+7) are 16:59:59 and 17:00:00 UTC on 24 November.
    library.visit("2026-11-24 23:59:59")
    library.visit("2026-11-25 00:00:00")
    library.visit("2026-11-25 00:00:01")
    # 01:00 UTC on the 25th is 08:00 in Jakarta.
    with time_machine.travel(datetime(2026, 11, 25, 1, 0, tzinfo=ZoneInfo("UTC")), tick=False):
        today = timezone.localdate()
        assert today == date(2026, 11, 25)
        assert visits_on(day=today) == 2
        assert visits_on(day=today - timedelta(days=1)) == 1
        assert daily_visit_totals(since=date(2026, 11, 24), until=date(2026, 11, 25)) == {
            date(2026, 11, 24): 1,
            date(2026, 11, 25): 2,
        }


def test_utc_evening_is_already_tomorrow_in_jakarta(library):
    library.visit("2026-11-26 06:30:00")
    # 23:30 UTC on the 25th is 06:30 on the 26th in Jakarta: "today" is the 26th.
    moment = datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("UTC"))
    with time_machine.travel(moment, tick=False):
        assert timezone.localdate() == date(2026, 11, 26)
        assert visits_on(day=timezone.localdate()) == 1


def test_checkin_dates_read_back_as_library_local_time(library):
    library.visit("2026-11-25 00:00:00")
    from visitors.models import Visit

    checkin = Visit.objects.get().checkin_date
    assert checkin == datetime(2026, 11, 25, 0, 0, tzinfo=JAKARTA)


# --- today's count as the delta mode reads it ---------------------------------------------------


def test_a_visit_dated_tomorrow_is_not_counted_today(library):
    """A desk PC whose clock runs ahead writes tomorrow's date: the row is counted on its own
    date, not today, both by the day's first exact count and by the delta ticks after it,
    while its id still moves the delta's watermark (it has been read)."""
    early = library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-26 00:00:00")  # tomorrow's first instant
    library.visit("2026-11-27 09:00:00")  # the day after tomorrow
    last = library.visit("2026-11-25 09:00:00")
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False):
        assert visits_today_exact(today=date(2026, 11, 25)) == (2, early, last)
        later = library.visit("2026-11-26 07:00:00")  # ahead again, after the baseline
        newest = library.visit("2026-11-25 10:00:00")
        assert visits_today_after(today=date(2026, 11, 25), after_id=last) == (1, newest)
        assert visits_today_after(today=date(2026, 11, 25), after_id=newest) == (0, newest)
    assert later < newest


# --- top visitors: names and ties ---------------------------------------------------------------


def test_a_member_is_named_by_the_latest_visit_by_date_not_the_latest_typed_in(library):
    """A paper sheet from the 3rd, typed in after the member's visit on the 20th, has a higher
    id; the member is still named as on the 20th, their most recent visit."""
    library.visit("2026-11-20 09:00:00", member_id="M1", name="Budi S. Wijaya", institution="Pasca")
    library.visit("2026-11-03 09:00:00", member_id="M1", name="Budi Santoso", institution="Ekonomi")
    assert top_visitors(since=date(2026, 11, 1), until=date(2026, 11, 24)) == [
        TopVisitor("M1", "Budi S. Wijaya", "Pasca", 2)
    ]


def test_two_visits_in_the_same_second_name_the_member_by_the_one_recorded_last(library):
    """Check-ins in the same second (a double scan at the gate) with different names: the one
    recorded last (the higher id) names the member, whatever order the table holds them in."""
    library.visit("2026-11-20 09:00:00", member_id="M1", name="Budi Baru", visitor_id=20)
    library.visit("2026-11-20 09:00:00", member_id="M1", name="Budi Lama", visitor_id=10)
    assert top_visitors(since=date(2026, 11, 1), until=date(2026, 11, 24)) == [
        TopVisitor("M1", "Budi Baru", "Fakultas Ekonomi", 2)
    ]


def test_ties_by_name_put_a_blank_name_first_members_before_guests_then_institution(library):
    """Same total: names as text (a blank name before any other), then a member before a
    guest of the same name, then guests of the same name by institution (none first)."""
    for institution in ("SMA 1", None):
        library.visit("2026-11-10 10:00:00", name="Rina", institution=institution)
    library.visit("2026-11-10 10:00:00", member_id="M7", name="Rina", institution="Hukum")
    library.visit("2026-11-10 10:00:00", name="", institution="SMK 2")  # a blank guest book line
    library.visit("2026-11-10 10:00:00", member_id="M8", name="Andi", institution="Hukum")
    assert top_visitors(since=date(2026, 11, 1), until=date(2026, 11, 24)) == [
        TopVisitor(None, "", "SMK 2", 1),
        TopVisitor("M8", "Andi", "Hukum", 1),
        TopVisitor("M7", "Rina", "Hukum", 1),
        TopVisitor(None, "Rina", None, 1),
        TopVisitor(None, "Rina", "SMA 1", 1),
    ]


def test_a_member_whose_visits_vanish_between_the_two_reads_is_listed_unnamed(library, monkeypatch):
    """The totals and the latest visit's details are two statements: a visit deleted in
    between leaves the member listed, without a name, never an error."""
    library.visit("2026-11-24 10:00:00", member_id="M1", name="Budi")
    monkeypatch.setattr(selectors, "_latest_member_details", lambda members, **period: {})
    top = selectors.top_visitors(since=date(2026, 11, 1), until=date(2026, 11, 24))
    assert top == [selectors.TopVisitor("M1", None, None, 1)]
