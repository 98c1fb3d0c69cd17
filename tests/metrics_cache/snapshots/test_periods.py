"""Series on the last day of a month and of a year: today's month and year are the last entry,
never the next one."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def series(client, day: datetime) -> tuple[dict, dict]:
    with time_machine.travel(day, tick=False):
        call_command("prewarm", "--only", "monthly", "yearly", stdout=StringIO())
        return client.get("/api/visitors/monthly").json(), client.get("/api/visitors/yearly").json()


@pytest.mark.parametrize(
    ("now", "months", "years"),
    [
        (datetime(2026, 11, 30, 10, 0, tzinfo=JAKARTA), ("2025-12", "2026-11"), (2022, 2026)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=JAKARTA), ("2026-01", "2026-12"), (2022, 2026)),
        (datetime(2027, 1, 1, 0, 30, tzinfo=JAKARTA), ("2026-02", "2027-01"), (2023, 2027)),
    ],
)
def test_the_last_entry_is_todays_month_and_year(library, client, now, months, years):
    library.visit(now.replace(hour=12, minute=0, tzinfo=None) - timedelta(days=1))  # yesterday
    monthly, yearly = series(client, now)
    assert len(monthly["data"]) == 12
    assert (monthly["data"][0]["month"], monthly["data"][-1]["month"]) == months
    assert len(yearly["data"]) == 5
    assert (yearly["data"][0]["year"], yearly["data"][-1]["year"]) == years
    assert sum(m["total"] for m in monthly["data"]) == 1
    assert sum(y["total"] for y in yearly["data"]) == 1
