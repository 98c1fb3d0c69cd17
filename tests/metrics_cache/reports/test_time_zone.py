"""A library in another time zone: SLiMS's naive times are that zone's, so a visit counts on
its own local date and hour there, and "yesterday" (the last day a report may cover) is that
zone's yesterday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections
from django.test import Client

from tests.support.library import library_test
from tests.support.rollups import build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

JAYAPURA = "Asia/Jayapura"  # UTC+9, two hours ahead of Jakarta


@pytest.fixture
def in_jayapura(settings):
    library = connections["library"]
    zone = library.settings_dict["TIME_ZONE"]
    library.settings_dict["TIME_ZONE"] = JAYAPURA
    settings.LIBRARY_TIME_ZONE = JAYAPURA
    settings.TIME_ZONE = JAYAPURA  # resets every open connection's zone
    yield
    library.settings_dict["TIME_ZONE"] = zone
    for attribute in ("timezone", "timezone_name"):
        library.__dict__.pop(attribute, None)
    library.close()


def test_visits_count_on_the_library_s_own_date_hour_and_yesterday(library, in_jayapura):
    library.visit("2026-12-03 23:30:00", member_id="M1")  # local times, as SLiMS writes them
    library.visit("2026-12-04 00:15:00", member_id="M2")
    library.visit("2026-12-04 23:59:59", member_id="M3")
    # 16:30 UTC: 01:30 on 5 December in Jayapura, still 4 December in Jakarta.
    with time_machine.travel(datetime(2026, 12, 4, 16, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        build()
        days = Client().get("/api/reports/visits", {"from": "2026-12-03", "by": "day"}).json()
        hours = Client().get("/api/reports/visits", {"from": "2026-12-03", "by": "hour"}).json()
    assert days["period"] == {"from": "2026-12-03", "to": "2026-12-04"}
    assert days["data"] == [
        {"date": "2026-12-03", "total": 1},
        {"date": "2026-12-04", "total": 2},
    ]
    assert {h["hour"]: h["total"] for h in hours["data"] if h["total"]} == {0: 1, 23: 2}
