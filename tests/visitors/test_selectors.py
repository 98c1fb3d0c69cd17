"""Visitor reads count in the library's local time, not UTC and not the database's clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.utils import timezone

from tests.library import library_test
from visitors.selectors import daily_visit_totals, visits_on

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
