"""The annual figures: the contract's definitions over a closed year or this year to
yesterday, the year before beside them, ratios with a zero divisor as null, and the CSV's
key,label,value,previous rows."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from metrics_cache.reports import annual
from metrics_cache.reports.catalog import copy_lookups
from metrics_cache.reports.periods import Period
from metrics_cache.rollups import engine
from tests.support.library import library_test
from tests.support.rollups import at, build
from visitors import rollups as visit_rollups

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def a_year(library) -> None:
    library.member("M1", "Ani", registered="2024-03-01", expires="2026-02-01")
    library.member("M2", "Budi", registered="2025-06-01", expires="2027-06-01")
    library.member("M3", "Citra", registered="2023-01-01", expires="2024-12-31")  # lapsed
    book = library.biblio("Laskar Pelangi", classification="899")
    library.item(book, "B1")
    library.item(book, "B2")
    library.item(book, "B3")
    for stamp, member in (
        ("2025-03-03 09:00:00", "M1"),  # a Monday
        ("2025-03-03 10:30:00", "M1"),
        ("2025-03-04 10:00:00", None),
        ("2025-07-01 10:00:00", "M2"),
        ("2024-05-01 10:00:00", "M1"),
    ):
        library.visit(stamp, member_id=member)
    library.loan("B1", "M1", "2025-03-03")
    library.loan("B1", "M2", "2025-07-01")
    library.loan("B2", "M2", "2025-07-02")
    library.loan("B2", "M1", "2024-02-29")


def test_a_closed_year_beside_the_one_before(library):
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        body = Client().get("/api/reports/annual", {"year": "2025", "compare": "previous_year"})
    body = body.json()
    assert body["complete"] is True and body["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    data, before = body["data"], body["previous"]
    assert (data["visits"], data["member_visits"], data["guest_visits"]) == (4, 3, 1)
    assert data["service_days"] == 3 and data["visits_per_service_day"] == 1.3
    assert data["visiting_members"] == 2
    assert (data["members"], data["new_members"]) == (2, 1)
    assert (data["loans"], data["borrowers"]) == (3, 2)
    assert data["loans_per_member"] == 1.5
    assert (data["titles"], data["items"], data["items_never_borrowed"]) == (1, 3, 1)
    assert data["turnover"] == 1.0 and data["share_never_borrowed"] == 33.3
    assert data["visits_by_month"][2] == {"month": 3, "total": 3}
    assert data["loans_by_month"][6] == {"month": 7, "total": 2}
    assert data["busiest_weekday"] == 1 and data["busiest_hour"] == 10
    assert (before["visits"], before["loans"], before["members"]) == (1, 1, 2)
    assert before["service_days"] == 1 and before["busiest_hour"] == 10


def test_this_year_runs_to_yesterday_and_a_ratio_over_zero_is_null(library):
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        body = Client().get("/api/reports/annual").json()
    assert body["year"] == 2026 and body["complete"] is False
    assert body["period"] == {"from": "2026-01-01", "to": "2026-12-04"}
    data = body["data"]
    assert data["visits"] == 0 and data["visits_per_service_day"] is None
    assert (data["member_visits"], data["guest_visits"], data["loans"]) == (0, 0, 0)
    assert len(data["visits_by_month"]) == len(data["loans_by_month"]) == 12
    assert data["loans_per_member"] is None and data["turnover"] is None
    assert data["share_never_borrowed"] is None
    assert data["busiest_weekday"] is None and data["busiest_hour"] is None


def test_on_2_january_the_year_is_its_first_day_and_on_1_january_it_has_none(library):
    library.visit("2027-01-01 10:00:00", member_id=None)
    with at(2027, 1, 2, 8, 0):
        build()
        body = Client().get("/api/reports/annual").json()
    assert body["period"] == {"from": "2027-01-01", "to": "2027-01-01"}
    assert body["data"]["visits"] == 1
    with at(2027, 1, 1, 8, 0):
        response = Client().get("/api/reports/annual", {"year": "2027"})
    assert response.status_code == 400 and response.json()["parameter"] == "year"


@pytest.mark.parametrize("year", ["2027", "26", "20x5", "2026-01"])
def test_a_year_without_a_closed_day_or_malformed_is_a_400(library, year):
    with at(2026, 12, 5, 11, 0):
        build()
        response = Client().get("/api/reports/annual", {"year": year})
    assert response.status_code == 400 and response.json()["parameter"] == "year"


def test_the_annual_csv_has_one_row_per_key_and_month(library):
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        response = Client().get(
            "/api/reports/annual", {"year": "2025", "compare": "previous_year", "format": "csv"}
        )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["key", "label", "value", "previous"]
    assert rows[1] == ["visits", "Visits", "4", "1"]
    assert ["visits_by_month_03", "Visits by month: 03", "3", "0"] in rows
    assert response["Content-Disposition"] == 'attachment; filename="annual_2025.csv"'


def test_this_year_s_visitors_and_borrowers_leave_out_those_seen_only_today(library):
    library.member("M1", "Ani", registered="2024-03-01")
    library.item(library.biblio("Laskar Pelangi"), "B1")
    library.visit("2026-03-02 09:00:00", member_id="M1")
    library.visit("2026-12-05 09:00:00", member_id="M1")  # today, and earlier too: counted
    library.visit("2026-12-05 10:00:00", member_id="M2")  # only today: not yet
    library.visit("2026-12-05 10:30:00", member_id="m2")  # the same member to SLiMS
    library.loan("B1", "M1", "2026-12-05")  # today only
    library.loan("B1", "M3", "2026-06-01")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        data = Client().get("/api/reports/annual").json()["data"]
    assert data["visiting_members"] == 1 and data["visits"] == 1
    assert data["borrowers"] == 1 and data["loans"] == 1


def test_the_annual_xlsx_has_the_json_s_numbers_and_labels_in_the_request_language(library):
    a_year(library)
    params = {"year": "2025", "compare": "previous_year"}
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        body = Client().get("/api/reports/annual", params).json()
        english, indonesian = (
            Client().get("/api/reports/annual", {**params, "format": "xlsx"}, **language)
            for language in ({}, {"HTTP_ACCEPT_LANGUAGE": "id"})
        )
    rows = {}
    for response in (english, indonesian):
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        rows[response] = {r[0].value: [c.value for c in r[1:]] for r in sheet.iter_rows(min_row=4)}
    assert rows[english]["visits_per_service_day"] == [
        "Visits per service day",
        body["data"]["visits_per_service_day"],
        body["previous"]["visits_per_service_day"],
    ]
    assert rows[english]["visits"] == ["Visits", 4, 1]
    assert rows[indonesian]["visits_per_service_day"][0] == "Kunjungan per hari layanan"
    assert rows[indonesian]["visits_by_month_03"] == ["Kunjungan per bulan: 03", 3, 0]
    assert rows[indonesian]["loans_per_member"][1:] == [
        body["data"]["loans_per_member"],
        body["previous"]["loans_per_member"],
    ]


def test_ratios_to_two_places_the_year_before_from_1_january_and_an_emptied_day_serves_none(
    library,
):
    for member in ("M1", "M2", "M3"):
        library.member(member, member, registered="2024-01-01", expires="2030-01-01")
    book = library.biblio("Laskar Pelangi", classification="899")
    for code in ("B1", "B2", "B3"):
        library.item(book, code)
    library.loan("B1", "M1", "2026-03-02")
    library.loan("B2", "M1", "2026-03-03")
    library.visit("2025-01-01 09:00:00", member_id="M1")  # the year before's first day
    library.visit("2026-03-02 09:00:00", member_id="M1")
    with at(2026, 11, 28, 12, 0):
        mistaken = library.visit("2026-11-28 09:30:00", member_id="M2")
        build()
    library.execute("DELETE FROM visitor_count WHERE visitor_id = %s", [mistaken])
    with at(2026, 11, 28, 23, 0):  # the day's recount leaves it with no visit
        assert visit_rollups.recount_day(engine.live_state("visits"), date(2026, 11, 28)) == (1, 0)
    with at(2026, 12, 5, 11, 0):
        copy_lookups()
        body = Client().get("/api/reports/annual", {"compare": "previous_year"}).json()
    data = body["data"]
    assert (data["loans"], data["members"], data["items"]) == (2, 3, 3)
    assert data["loans_per_member"] == 0.67 and data["turnover"] == 0.67
    assert (data["visits"], data["service_days"]) == (1, 1)
    assert body["previous"]["visits"] == 1


def test_what_was_added_and_registered_in_the_year_by_the_library_s_own_midnights(library):
    library.member("IN", "In", registered="2025-12-15")  # registered in the year's last month
    library.member("AFTER", "After", registered="2026-01-01")
    book = library.biblio("Laskar Pelangi", classification="899")
    for code, added in (
        ("BEFORE", "2024-12-31 23:59:59"),
        ("FIRST", "2025-01-01 00:00:00"),
        ("LAST", "2025-12-31 23:59:59"),
        ("NEXT", "2026-01-01 00:00:00"),
        ("LATE", "2026-01-01 02:00:00"),
    ):
        library.item(book, code)
        library.execute("UPDATE item SET input_date = %s WHERE item_code = %s", [added, code])
    for stamp in (
        "2025-03-03 09:00:00",
        "2025-03-03 09:30:00",
        "2025-03-10 09:00:00",
        "2025-03-04 10:00:00",
        "2025-03-04 11:00:00",
        "2025-03-04 12:00:00",
        "2025-03-10 10:00:00",
    ):
        library.visit(stamp, member_id="IN")  # two Mondays of 2 visits, a Tuesday of 3
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        data = Client().get("/api/reports/annual", {"year": "2025"}).json()["data"]
        # The same copies seen from a library four hours behind UTC+7's midnights.
        with timezone.override("Asia/Dubai"):
            elsewhere = annual.figures(Period(date(2025, 1, 1), date(2025, 12, 31)))
    assert (data["members"], data["new_members"]) == (1, 1)
    assert data["items_added"] == 2
    assert data["busiest_weekday"] == 1 and data["guest_visits"] == 0
    # In Dubai (UTC+4) FIRST is still 2024; NEXT and LATE (UTC+7) are 2025's last hours.
    assert elsewhere["items_added"] == 3


def test_the_default_year_and_every_answer_kept_apart(library):
    library.visit("2025-03-03 09:00:00", member_id=None)
    library.visit("2026-12-05 09:00:00", member_id=None)
    with at(2026, 12, 5, 11, 0):
        build()
        this_year = Client().get("/api/reports/annual", {"year": ""}).json()
        assert this_year["year"] == 2026 and this_year["period"]["to"] == "2026-12-04"
        assert Client().get("/api/reports/annual", {"year": "2026"}).status_code == 200
        # Each year, and with or without the year before, its own answer.
        years = [Client().get("/api/reports/annual", {"year": y}).json()["year"]
                 for y in ("2025", "2024")]  # fmt: skip
        assert years == [2025, 2024]
        plain = Client().get("/api/reports/annual", {"year": "2025"}).json()
        assert "previous" not in plain
        compared = Client().get("/api/reports/annual", {"year": "2025", "compare": "previous_year"})
        assert "previous" in compared.json()
    with at(2026, 12, 6, 11, 0):  # the next day: this year's answer reaches a day further
        today = Client().get("/api/reports/annual").json()
        assert today["period"]["to"] == "2026-12-05" and today["data"]["visits"] == 1
    with at(2027, 1, 1, 8, 0):  # on 1 January the default is the year just closed
        new_year = Client().get("/api/reports/annual").json()
        assert new_year["year"] == 2026 and new_year["complete"] is True


@pytest.mark.parametrize(
    ("year", "message"),
    [("20x5", "year must be a year as YYYY, not '20x5'"), ("2027", "year 2027 has no closed day"),
     ("0000", "year must be 1 or later"), ("0001", "needs a year after the year 1")],
)  # fmt: skip
def test_a_bad_year_is_explained(library, year, message):
    with at(2026, 12, 5, 11, 0):
        build()
        answer = Client().get("/api/reports/annual", {"year": year, "compare": "previous_year"})
    assert answer.status_code == 400 and message in answer.json()["message"]
