"""The network's reports over real rollups: each library's own figures, then the total (one
library here: the total is its figures, ratios and busiest included), a library whose first
build has not ended named as missing, and the period reports by month and by year."""

from __future__ import annotations

import pytest
from django.test import Client

from config.library import home, name
from metrics_cache.reports.annual import LABELS
from metrics_cache.reports.catalog import copy_lookups
from tests.metrics_cache.reports.test_annual import a_year
from tests.support.client import get_json
from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def get(path: str, **query) -> dict:
    return get_json(path, query)


def test_the_network_s_annual_figures_are_each_library_s_then_their_total(library):
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        own = get("/api/reports/annual", year="2025")["data"]
        body = get("/api/network/reports/annual", year="2025")
    assert (body["report"], body["year"], body["missing"]) == ("annual", 2025, [])
    assert body["generated_at"].startswith("2026-12-05T11:00:00")
    (row,) = body["libraries"]
    assert row == {"slug": home().slug, "name": name(home()), **own}
    assert body["total"] == {key: own[key] for key in LABELS}
    assert (body["total"]["visits"], body["total"]["visits_per_service_day"]) == (4, 1.3)
    assert (body["total"]["busiest_weekday"], body["total"]["busiest_hour"]) == (1, 10)
    assert body["total"]["share_never_borrowed"] == 33.3


def test_a_library_whose_first_build_has_not_ended_is_named_missing(library):
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        body = get("/api/network/reports/annual", year="2025")
        visits = get("/api/network/reports/visits", **{"from": "2025-01-01", "to": "2025-12-31"})
    assert (body["libraries"], body["total"], body["missing"]) == ([], None, [home().slug])
    assert (visits["libraries"], visits["missing"]) == ([], [home().slug])
    assert visits["total"] == {"total": 0, "data": []}


def test_the_network_s_visits_by_month_and_loans_by_year(library):
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        build()
        by_month = get("/api/network/reports/visits", **{"from": "2025-01-01", "to": "2025-12-31"})
        by_year = get("/api/network/reports/loans",
                      **{"from": "2024-01-01", "to": "2025-12-31", "by": "year"})  # fmt: skip
    assert (by_month["report"], by_month["by"], by_month["missing"]) == ("visits", "month", [])
    assert by_month["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert by_month["generated_at"].startswith("2026-12-05T11:00:00")
    (row,) = by_month["libraries"]
    assert (row["slug"], row["name"], row["total"]) == (home().slug, name(home()), 4)
    months = {item["month"]: item["total"] for item in by_month["total"]["data"]}
    assert (len(months), months["2025-03"], months["2025-07"], months["2025-01"]) == (12, 3, 1, 0)
    assert by_month["total"]["total"] == 4 and row["data"] == by_month["total"]["data"]
    assert by_year["by"] == "year" and by_year["report"] == "loans"
    assert by_year["total"] == {"total": 4, "data": [{"year": 2024, "total": 1},
                                                     {"year": 2025, "total": 3}]}  # fmt: skip


def test_the_network_s_reports_refuse_a_bucket_of_one_library_s_own(library):
    answer = Client().get("/api/network/reports/visits", {"by": "room"})
    assert answer.status_code == 400 and answer.json()["parameter"] == "by"
