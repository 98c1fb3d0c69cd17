"""The report endpoints: a 400 naming each malformed parameter, 202 while the rollups build,
ETag and 304, a cached answer served without computing, CSV and XLSX with the JSON's numbers,
and REPORTS_ACCESS."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.authtoken.models import Token

from metrics_cache.base import keys
from metrics_cache.reports import answers
from metrics_cache.reports.catalog import copy_lookups
from metrics_cache.rollups import engine, sources
from metrics_cache.rollups.models import RollupState
from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def some_visits(library) -> None:
    library.visit("2026-11-02 08:15:00", member_id="M1", room="R1")
    library.visit("2026-11-03 10:00:00", member_id=None)
    library.visit("2025-11-03 10:00:00", member_id=None)
    library.loan("T1", "M1", "2026-11-02")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"to": "2026-12-05"}, "to"),  # today
        ({"to": "2027-01-01"}, "to"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "2016-01-01", "to": "2026-01-01"}, "from"),  # 3,654 days: fine, 3,684 not
        ({"by": "minute"}, "by"),
        ({"compare": "last_week"}, "compare"),
        ({"format": "pdf"}, "format"),
        # The year before the year 1 is not a date (found by schemathesis as a 500).
        ({"to": "0001-01-01", "compare": "previous_year"}, "compare"),
    ],
)
def test_a_malformed_parameter_is_a_400_naming_it(library, params, named):
    with at(2026, 12, 5, 11, 0):
        build()
        if named == "from" and params["from"].startswith("2016"):
            assert Client().get("/api/reports/visits", params).status_code == 200
            params = {"from": "2015-12-01", "to": "2026-01-01"}  # 3,684 days
        response = Client().get("/api/reports/visits", params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "bad_request" and body["parameter"] == named
    assert named in body["message"]


def test_while_the_rollups_are_first_built_a_report_answers_202_with_progress(library):
    with at(2026, 12, 5, 11, 0):
        response = Client().get("/api/reports/visits")
    assert response.status_code == 202
    assert response.json() == {"status": "building", "progress": 0.0, "retry_after_seconds": 30}
    assert response["Retry-After"] == "30" and response["Cache-Control"] == "no-store"


def test_an_answer_carries_an_etag_and_a_match_is_a_304(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        first = Client().get("/api/reports/visits", NOVEMBER)
        etag = first["ETag"]
        again = Client().get("/api/reports/visits", NOVEMBER, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and again["ETag"] == etag
        other = Client().get("/api/reports/visits", {**NOVEMBER, "by": "week"})
        assert other["ETag"] != etag
        as_csv = Client().get("/api/reports/visits", {**NOVEMBER, "format": "csv"})
        assert as_csv["ETag"] not in (etag, other["ETag"])
    assert "Content-Disposition" not in first  # JSON is shown, a file is downloaded
    assert as_csv["Content-Disposition"].startswith("attachment; ")
    # Shared caches may keep a public deployment's answers, apart per credentials and language.
    assert first["Cache-Control"] == "public, max-age=60"
    for response in (first, again):  # (CORS, when configured, adds Origin after them)
        assert response["Vary"].startswith("Cookie, Authorization, Accept-Language")


def test_a_report_asked_again_is_served_without_computing_or_reaching_slims(library, monkeypatch):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        slims = connections["library"]
        slims.close()
        statements = []

        def record(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with slims.execute_wrapper(record):
            for path in ("/api/reports/loans", "/api/reports/annual", "/api/reports/circulation"):
                Client().get(path, {"by": "class"} if path.endswith("loans") else {})
            body = Client().get("/api/reports/visits", {**NOVEMBER, "by": "room"}).content

            def computing(*args, **kwargs):
                raise AssertionError("computed again")

            monkeypatch.setattr("metrics_cache.reports.answers.envelope", computing)
            again = Client().get("/api/reports/visits", {**NOVEMBER, "by": "room"}).content
            assert again == body
        # Neither computing a report nor serving it again opens a connection to SLiMS.
        assert statements == [] and slims.connection is None


def test_a_late_entry_for_a_closed_day_changes_the_answer(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        assert Client().get("/api/reports/visits", NOVEMBER).json()["total"] == 2
        library.visit("2026-11-20 09:00:00", member_id="M9")
        build()
        assert Client().get("/api/reports/visits", NOVEMBER).json()["total"] == 3


def test_csv_has_a_byte_order_mark_a_header_and_the_json_numbers(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        params = {**NOVEMBER, "by": "room", "compare": "previous_year"}
        body = Client().get("/api/reports/visits", params).json()
        response = Client().get("/api/reports/visits", {**params, "format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="visits_2026-11-01_2026-11-30_by-room.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["room_code", "room_name", "total", "previous"]
    assert [
        {k: (int(v) if k in ("total", "previous") else v or None) for k, v in row.items()}
        for row in rows
    ] == body["data"]


def test_xlsx_stores_numbers_as_numbers_under_headers_in_the_request_language(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        params = {**NOVEMBER, "by": "month", "compare": "previous_year"}
        body = Client().get("/api/reports/visits", params).json()
        english = Client().get("/api/reports/visits", {**params, "format": "xlsx"})
        indonesian = Client().get(
            "/api/reports/visits", {**params, "format": "xlsx"}, HTTP_ACCEPT_LANGUAGE="id"
        )
    sheet = openpyxl.load_workbook(io.BytesIO(english.content)).active
    assert sheet.title == "visits"
    assert "2026-11-01 to 2026-11-30" in sheet["A1"].value
    assert [c.value for c in sheet[3]] == ["Month", "Total", "A year earlier"]
    assert [c.value for c in sheet[4]] == ["2026-11", 2, 1]
    assert body["data"] == [{"month": "2026-11", "total": 2, "previous": 1}]
    indonesian_sheet = openpyxl.load_workbook(io.BytesIO(indonesian.content)).active
    assert [c.value for c in indonesian_sheet[3]] == ["Bulan", "Total", "Setahun sebelumnya"]
    assert english["ETag"] != indonesian["ETag"]


def test_the_same_report_gives_the_same_xlsx_bytes(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        first = Client().get("/api/reports/visits", {**NOVEMBER, "format": "xlsx"}).content
    with at(2026, 12, 5, 11, 30):
        assert Client().get("/api/reports/visits", {**NOVEMBER, "format": "xlsx"}).content == first


def test_loans_report_by_day_and_weekday(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        library.loan("T2", None, "2026-11-04")
        library.loan("T3", "M2", "2025-11-04")  # a late import
        build()
        body = Client().get("/api/reports/loans", {**NOVEMBER, "by": "weekday",
                                                   "compare": "previous_year"}).json()  # fmt: skip
    assert body["total"] == 2 and body["previous_total"] == 1
    assert [w["total"] for w in body["data"]] == [1, 0, 1, 0, 0, 0, 0]
    assert [w["previous"] for w in body["data"]] == [0, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("by", ["hour", "room", "audience", "weekday_hour"])
def test_loans_have_no_hour_or_room(library, by):
    with at(2026, 12, 5, 11, 0):
        build()
        response = Client().get("/api/reports/loans", {"by": by})
    assert response.status_code == 400 and response.json()["parameter"] == "by"


def test_staff_only_reports_answer_401_without_credentials_and_403_to_non_staff(library, settings):
    settings.REPORTS_ACCESS = "staff"
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        anonymous = Client().get("/api/reports/visits")
        assert anonymous.status_code == 401 and anonymous.json()["status"] == "unauthorized"
        reader = User.objects.create_user("reader", password="x")
        token = Token.objects.create(user=reader)
        denied = Client().get("/api/reports/visits", HTTP_AUTHORIZATION=f"Token {token.key}")
        assert denied.status_code == 403 and denied.json()["status"] == "forbidden"
        reader.is_staff = True
        reader.save()
        allowed = Client().get("/api/reports/visits", HTTP_AUTHORIZATION=f"Token {token.key}")
        assert allowed.status_code == 200
        assert allowed["Cache-Control"] == "private, max-age=60"


def test_the_sheet_s_title_names_the_library(library, settings):
    settings.LIBRARY_NAME = "Perpustakaan Kota"
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        xlsx = Client().get("/api/reports/visits", {**NOVEMBER, "format": "xlsx"}).content
    title = openpyxl.load_workbook(io.BytesIO(xlsx)).active["A1"].value
    assert title.startswith("Perpustakaan Kota · Visits · 2026-11-01 to 2026-11-30")


@pytest.mark.parametrize(("since", "status"), [("2016-11-27", 200), ("2016-11-26", 400)])
def test_a_period_covers_at_most_3660_days(library, since, status):
    with at(2026, 12, 5, 11, 0):
        build()
        response = Client().get("/api/reports/visits", {"from": since, "to": "2026-12-04",
                                                        "by": "year"})  # fmt: skip
    assert response.status_code == status
    if status == 400:
        assert response.json()["parameter"] == "from" and "3660" in response.json()["message"]


def test_visits_and_loans_with_the_same_parameters_are_each_their_own_answer(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        params = {**NOVEMBER, "by": "month"}
        visits = Client().get("/api/reports/visits", params).json()
        loans = Client().get("/api/reports/loans", params).json()
    assert (visits["report"], visits["total"]) == ("visits", 2)
    assert (loans["report"], loans["total"]) == ("loans", 1)


def test_without_redis_a_report_is_still_computed(library, monkeypatch):
    class Unreachable:
        def get(self, *args, **kwargs):
            raise RedisConnectionError("refused")

        set = get

    monkeypatch.setattr(answers, "client", Unreachable)
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        response = Client().get("/api/reports/visits", NOVEMBER)
    assert response.status_code == 200 and response.json()["total"] == 2


def test_names_are_raw_utf8_in_compact_json(library):
    library.room("R1", "Ruang Baca Ümum")
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        copy_lookups()
        content = Client().get("/api/reports/visits", {**NOVEMBER, "by": "room"}).content
    assert "Ruang Baca Ümum".encode() in content
    assert content.startswith(b'{"report":"visits","by":"room","period":{"from":"2026-11-01"')


def test_while_building_the_progress_is_the_least_advanced_source_s(library):
    with at(2026, 12, 5, 11, 0):
        for name, done in (("visits", 0.75), ("loans", 0.5)):  # of 1,000 rows to fold
            state = engine.ensure_live(sources.sources()[name])
            RollupState.objects.filter(pk=state.pk).update(
                built_at=None, build_target_id=1000, last_id=int(1000 * done)
            )
        visits = Client().get("/api/reports/visits").json()
        annual = Client().get("/api/reports/annual").json()
    assert visits["progress"] == 0.75 and annual["progress"] == 0.5


def test_a_kept_answer_expires(library):
    with at(2026, 12, 5, 11, 0):
        some_visits(library)
        build()
        Client().get("/api/reports/visits", NOVEMBER)
    kept = [k for k in answers.client().scan_iter() if b"report" in k]
    assert kept and all(0 < answers.client().ttl(k) <= keys.REPORT_TTL_SECONDS for k in kept)
