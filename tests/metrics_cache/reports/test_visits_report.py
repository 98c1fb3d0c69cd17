"""/api/reports/visits from the rollups: every breakdown adds up to the period's total, rows in
hostile id orders count on their own dates and hours, and a year earlier sits beside each item."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from metrics_cache.rollups import engine
from tests.support.library import library_test
from tests.support.rollups import at, build
from visitors import rollups as visit_rollups

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

BYS = ("day", "week", "month", "year", "hour", "weekday", "weekday_hour", "room", "audience")


def a_year_of_visits(library) -> None:
    """Visits in an order no id can be trusted with: late entries and an import of last year
    at the highest ids, local midnight and the last second of a day, guests as NULL and ''."""
    library.visit("2026-11-02 08:15:00", member_id="M1", room="R1")
    library.visit("2026-11-02 08:45:00", member_id=None, room="r1 ")  # the same room to SLiMS
    library.visit("2026-11-03 00:00:00", member_id="", room="R2")
    library.visit("2026-11-03 23:59:59", member_id="M2")
    library.visit("2026-11-30 13:00:00", member_id="M1", room="ZZ")
    library.visit("2026-12-05 10:00:00", member_id="M1", room="R1")  # today: not in a report
    library.visit("2026-11-16 09:30:00", member_id="M3", room="R1")  # a late entry
    library.visit("2025-11-02 08:10:00", member_id="M1", room="R1")  # last year, imported
    library.visit("2025-11-03 14:00:00", member_id=None)
    library.visit("2024-02-29 10:00:00", member_id="M1")


def get(path: str, **params):
    response = Client().get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_every_breakdown_adds_up_to_the_total_of_the_period(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        build()
        for by in BYS:
            body = get("/api/reports/visits", by=by, **{"from": "2026-11-01", "to": "2026-11-30"})
            assert body["total"] == 6, by
            assert sum(item["total"] for item in body["data"]) == 6, by
            assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30"}


def test_visits_count_at_their_local_hour_weekday_room_and_audience(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        build()
        period = {"from": "2026-11-01", "to": "2026-11-30"}
        hours = get("/api/reports/visits", by="hour", **period)["data"]
        assert len(hours) == 24
        assert {h["hour"]: h["total"] for h in hours if h["total"]} == {
            0: 1,
            8: 2,
            9: 1,
            13: 1,
            23: 1,
        }
        heat = get("/api/reports/visits", by="weekday_hour", **period)["data"]
        assert len(heat) == 168 and heat[0] == {"weekday": 1, "hour": 0, "total": 0}
        # 2026-11-02 is a Monday, 11-03 a Tuesday, 11-16 a Monday, 11-30 a Monday.
        assert {(h["weekday"], h["hour"]): h["total"] for h in heat if h["total"]} == {
            (1, 8): 2,
            (2, 0): 1,
            (2, 23): 1,
            (1, 9): 1,
            (1, 13): 1,
        }
        weekdays = get("/api/reports/visits", by="weekday", **period)["data"]
        assert [w["total"] for w in weekdays] == [4, 2, 0, 0, 0, 0, 0]
        rooms = get("/api/reports/visits", by="room", **period)["data"]
        assert rooms == [
            {"room_code": "R1", "room_name": None, "total": 3},
            {"room_code": "R2", "room_name": None, "total": 1},
            {"room_code": "ZZ", "room_name": None, "total": 1},
            {"room_code": None, "room_name": None, "total": 1},
        ]
        audience = get("/api/reports/visits", by="audience", **period)["data"]
        assert audience == [
            {"audience": "member", "total": 4},
            {"audience": "guest", "total": 2},
        ]


def test_days_weeks_and_months_are_zero_filled_and_oldest_first(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        build()
        body = get("/api/reports/visits", **{"from": "2026-11-01", "to": "2026-11-04"})
        assert body["by"] == "day"
        assert body["data"] == [
            {"date": "2026-11-01", "total": 0},
            {"date": "2026-11-02", "total": 2},
            {"date": "2026-11-03", "total": 2},
            {"date": "2026-11-04", "total": 0},
        ]
        weeks = get("/api/reports/visits", by="week", **{"from": "2026-11-01", "to": "2026-11-30"})
        assert [(w["week"], w["from"], w["to"], w["total"]) for w in weeks["data"]] == [
            ("2026-W44", "2026-11-01", "2026-11-01", 0),
            ("2026-W45", "2026-11-02", "2026-11-08", 4),
            ("2026-W46", "2026-11-09", "2026-11-15", 0),
            ("2026-W47", "2026-11-16", "2026-11-22", 1),
            ("2026-W48", "2026-11-23", "2026-11-29", 0),
            ("2026-W49", "2026-11-30", "2026-11-30", 1),
        ]
        years = get("/api/reports/visits", by="year", **{"from": "2024-01-01", "to": "2026-12-04"})
        assert years["data"] == [
            {"year": 2024, "total": 1}, {"year": 2025, "total": 2}, {"year": 2026, "total": 6}
        ]  # fmt: skip


def test_the_default_period_is_the_30_days_ending_yesterday(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        build()
        body = get("/api/reports/visits")
        assert body["period"] == {"from": "2026-11-05", "to": "2026-12-04"}
        assert body["total"] == 2 and len(body["data"]) == 30
        # Parameters left empty (a form's blank fields) are the defaults too.
        blank = Client().get("/api/reports/visits", {"from": "", "to": "", "by": "", "compare": ""})
        assert blank.status_code == 200 and blank.json()["period"] == body["period"]


def test_a_year_earlier_beside_each_item(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        build()
        period = {"from": "2026-11-01", "to": "2026-11-30", "compare": "previous_year"}
        body = get("/api/reports/visits", by="month", **period)
        assert body["previous_total"] == 2
        assert body["previous_period"] == {"from": "2025-11-01", "to": "2025-11-30"}
        assert body["data"] == [{"month": "2026-11", "total": 6, "previous": 2}]
        days = get("/api/reports/visits", by="day", **period)["data"]
        assert days[1] == {"date": "2026-11-02", "total": 2, "previous": 1}
        assert days[2] == {"date": "2026-11-03", "total": 2, "previous": 1}
        audience = get("/api/reports/visits", by="audience", **period)["data"]
        assert audience == [
            {"audience": "member", "total": 4, "previous": 1},
            {"audience": "guest", "total": 2, "previous": 1},
        ]
        # 29 February 2024 stands beside 28 February 2025 and 2026's 28 February beside it.
        leap = get("/api/reports/visits", compare="previous_year",
                   **{"from": "2025-02-28", "to": "2025-03-01"})  # fmt: skip
        assert leap["previous_period"] == {"from": "2024-02-28", "to": "2024-03-01"}
        assert leap["previous_total"] == 1


def hours_of(since: str, until: str, by: str = "hour") -> dict:
    body = get("/api/reports/visits", by=by, **{"from": since, "to": until})
    return {tuple(v for k, v in i.items() if k != "total"): i["total"] for i in body["data"]}


def day_by_day(since: str, until: str, by: str = "hour") -> dict:
    """The same breakdown summed over one-day reports (each read from the days' rows)."""
    summed: dict = {}
    day = date.fromisoformat(since)
    while day <= date.fromisoformat(until):
        for key, total in hours_of(day.isoformat(), day.isoformat(), by).items():
            summed[key] = summed.get(key, 0) + total
        day += timedelta(days=1)
    return summed


def test_whole_months_and_their_edge_days_add_up_as_the_days_do(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        library.visit("2026-10-31 23:59:59", member_id="M5", room="R2")  # the edges' own rows
        library.visit("2026-12-01 00:00:00", member_id=None, room="R1")
        build()
        for since, until in (
            ("2026-10-31", "2026-12-01"),  # a whole month between two edge days
            ("2026-11-01", "2026-11-30"),  # exactly one month
            ("2026-11-02", "2026-11-29"),  # inside one month
            ("2025-10-30", "2026-01-02"),  # whole months across a year's end
        ):
            for by in ("hour", "room", "audience"):
                assert hours_of(since, until, by) == day_by_day(since, until, by), (since, by)


def test_a_recounted_day_keeps_its_month_in_step(library):
    with at(2026, 11, 28, 12, 0):
        library.visit("2026-11-02 09:00:00", member_id="M1")
        gone = library.visit("2026-11-28 09:30:00", member_id="M2", room="R1")
        library.visit("2026-11-28 10:00:00", member_id=None)
        build()
    library.execute("DELETE FROM visitor_count WHERE visitor_id = %s", [gone])
    with at(2026, 11, 28, 23, 0):  # the day's recount, while it is today
        state = engine.live_state("visits")
        assert visit_rollups.recount_day(state, date(2026, 11, 28)) == (2, 1)
    with at(2026, 12, 5, 11, 0):
        for by in ("hour", "room", "audience", "member_type"):
            whole = hours_of("2026-11-01", "2026-11-30", by)  # November's monthly sums
            assert whole == day_by_day("2026-11-01", "2026-11-30", by), by
        assert sum(hours_of("2026-11-01", "2026-11-30").values()) == 2


def test_the_monthly_report_agrees_with_the_monthly_snapshot(library):
    with at(2026, 12, 5, 11, 0):
        a_year_of_visits(library)
        library.visit("2026-01-15 10:00:00", member_id="M7")
        build()
        call_command("prewarm", stdout=StringIO())
        snapshot = Client().get("/api/visitors/monthly").json()
        period = snapshot["period"]
        report = get("/api/reports/visits", by="month", **period)
    assert [(m["month"], m["total"]) for m in report["data"]] == [
        (m["month"], m["total"]) for m in snapshot["data"]
    ]


@pytest.mark.parametrize(
    ("since", "previous"),
    [("2026-12-28", [None]), ("2026-12-21", [1, None])],
    ids=["only-week-53", "weeks-52-and-53"],
)
def test_a_53rd_week_has_no_year_earlier_even_alone_in_its_period(library, since, previous):
    library.visit("2025-12-22 09:00:00", member_id=None)  # 2025-W52
    library.visit("2026-12-29 09:00:00", member_id=None)  # 2026-W53
    with at(2027, 1, 10, 11, 0):
        build()
        response = Client().get(
            "/api/reports/visits",
            {"from": since, "to": "2027-01-03", "by": "week", "compare": "previous_year"},
        )
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert [item["previous"] for item in data] == previous
    assert data[-1]["week"] == "2026-W53" and data[-1]["total"] == 1
