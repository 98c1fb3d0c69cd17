"""The network's reports over real rollups: each library's own figures, then the total (with
one library the total is its figures, ratios and busiest included; with a second library's
tables built before later visits, the sums of both), a library whose first build has not ended
named as missing, the period reports by month and by year, each library's cached answers
reused."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client

from config.libraries import Library, service_database
from config.library import home, name, serving
from metrics_cache.reports import annual as annual_module
from metrics_cache.reports import answers
from metrics_cache.reports.annual import LABELS
from metrics_cache.reports.catalog import copy_lookups
from tests.metrics_cache.reports.test_annual import a_year
from tests.support.aliases import extra_aliases
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


@pytest.fixture
def three(settings, tmp_path, django_db_blocker):
    """Before the deployment's library, `baru` (its own tables empty: its first build has not
    run) and `kembar`, which reads the same SLiMS database into tables of its own."""
    databases = {}
    for slug in ("kembar", "baru"):
        alias, service = f"library-{slug}", f"service-{slug}"
        databases[alias] = connections["library"].settings_dict
        databases[service] = service_database(connections["default"].settings_dict, slug, tmp_path)
        own = Library(slug, f"Perpustakaan {slug.title()}", {}, "Asia/Jakarta", "delta",
                      alias=alias, service_alias=service)  # fmt: skip
        settings.LIBRARIES = [own, *settings.LIBRARIES]
    with extra_aliases(**databases):
        with django_db_blocker.unblock():
            for slug in ("kembar", "baru"):
                call_command("migrate", database=f"service-{slug}", verbosity=0)
        yield {library.slug: library for library in settings.LIBRARIES}


def test_each_library_is_read_in_its_own_tables_and_the_total_adds_them_up(library, three):
    """kembar reads the home library's SLiMS database into tables of its own, built before two
    more visits arrive: the same months hold different figures, and the total adds them up;
    baru, listed first, is missing."""
    a_year(library)
    with at(2026, 12, 5, 11, 0):
        with serving(three["kembar"]):
            build()
            copy_lookups()
        library.visit("2025-03-05 09:00:00")
        library.visit("2025-08-01 09:00:00")
        build()
        copy_lookups()
        own = get("/api/reports/annual", year="2025")["data"]
        annual = get("/api/network/reports/annual", year="2025")
        visits = get("/api/network/reports/visits", **{"from": "2025-01-01", "to": "2025-12-31"})
        asked_to_compare = get("/api/network/reports/visits", compare="previous_year",
                               **{"from": "2025-01-01", "to": "2025-12-31"})  # fmt: skip
    # The network's reports put libraries side by side, not years: a comparison is not made.
    assert asked_to_compare["total"] == visits["total"]
    assert asked_to_compare["libraries"] == visits["libraries"]
    assert annual["missing"] == visits["missing"] == ["baru"]
    twin, home_row = annual["libraries"]
    assert (twin["slug"], twin["name"], twin["visits"], twin["loans"]) == (
        "kembar", "Perpustakaan Kembar", 4, 3)  # fmt: skip
    assert home_row == {"slug": home().slug, "name": name(home()), **own}
    assert (own["visits"], annual["total"]["visits"], annual["total"]["loans"]) == (6, 10, 6)
    assert [(row["slug"], row["total"]) for row in visits["libraries"]] == [
        ("kembar", 4), (home().slug, 6)]  # fmt: skip
    months = {item["month"]: item["total"] for item in visits["total"]["data"]}
    assert (visits["total"]["total"], months["2025-03"], months["2025-07"]) == (10, 7, 2)
    assert (months["2025-08"], months["2025-01"], len(months)) == (1, 0, 12)


def test_the_network_s_annual_report_is_made_of_each_library_s_own_cached_answers(
    library, monkeypatch
):
    """Asked after the network's, a library's own annual report and its visits by weekday
    and by hour (the busiest of the total) are answered from the cache: nothing is computed
    again."""
    a_year(library)
    computed = []
    for module in (annual_module, answers):
        real = module.envelope

        def counted(*args, real=real, **kwargs):
            computed.append(args[:2])
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "envelope", counted)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        get("/api/network/reports/annual", year="2025")
        assert len(computed) == 3  # the annual figures, the visits by weekday, by hour
        get("/api/reports/annual", year="2025")
        for by in ("weekday", "hour"):
            get("/api/reports/visits", by=by, **{"from": "2025-01-01", "to": "2025-12-31"})
    assert len(computed) == 3
