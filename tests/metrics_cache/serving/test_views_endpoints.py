"""Every snapshot endpoint against seeded rows whose answers are counted by hand here."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections

from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    """Freeze the clock at a Jakarta wall-clock time."""
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


def prewarm() -> None:
    call_command("prewarm", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def get(admin_client, django_assert_max_num_queries):
    """GET a path as staff (full member details; see test_privacy for the public view) and
    assert the library database saw no query while answering it."""

    def _get(path: str, **headers):
        with django_assert_max_num_queries(0, connection=connections["library"]):
            return admin_client.get(path, headers=headers)

    return _get


@pytest.fixture
def visits(library):
    rows = [
        "2021-12-31 23:59:59",  # before the 5-year window
        "2022-01-01 00:00:00",  # first instant of the yearly window
        "2025-11-30 12:00:00",  # 2025, before the monthly window
        "2025-12-31 23:59:59",  # first month of the monthly window
        "2026-10-03 09:00:00",
        "2026-10-03 15:00:00",
        "2026-11-17 23:59:59",  # the day before the weekly window
        "2026-11-18 00:00:00",  # first instant of the weekly window
        "2026-11-24 23:59:59",  # yesterday's last second
        "2026-11-25 00:00:00",  # today: in no snapshot
    ]
    for checkin in rows:
        library.visit(checkin)
    return library


def test_visit_series_periods_and_zero_filling(visits, get):
    with at(2026, 11, 25, 10, 0):
        prewarm()
        weekly = get("/api/visitors/weekly").json()
        monthly = get("/api/visitors/monthly").json()
        yearly = get("/api/visitors/yearly").json()

    assert weekly["period"] == {"from": "2026-11-18", "to": "2026-11-24"}
    assert weekly["ttl_seconds"] == 90000
    assert weekly["generated_at"].startswith("2026-11-25T10:00:00.000+07:00")
    assert weekly["data"] == [
        {"date": "2026-11-18", "total": 1},
        {"date": "2026-11-19", "total": 0},
        {"date": "2026-11-20", "total": 0},
        {"date": "2026-11-21", "total": 0},
        {"date": "2026-11-22", "total": 0},
        {"date": "2026-11-23", "total": 0},
        {"date": "2026-11-24", "total": 1},
    ]

    assert monthly["period"] == {"from": "2025-12-01", "to": "2026-11-24"}
    expected_months = {"2025-12": 1, "2026-10": 2, "2026-11": 3}
    assert [m["month"] for m in monthly["data"]] == [
        "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05",
        "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11",
    ]  # fmt: skip
    assert {m["month"]: m["total"] for m in monthly["data"] if m["total"]} == expected_months

    assert yearly["period"] == {"from": "2022-01-01", "to": "2026-11-24"}
    assert yearly["data"] == [
        {"year": 2022, "total": 1},
        {"year": 2023, "total": 0},
        {"year": 2024, "total": 0},
        {"year": 2025, "total": 2},
        {"year": 2026, "total": 5},
    ]


def test_first_of_january_gives_empty_current_periods(library, get):
    library.visit("2026-12-31 23:59:59")  # yesterday
    library.visit("2027-01-01 00:00:10")  # today
    library.member("M1", "Budi")
    algebra = library.biblio("Aljabar")
    code = library.item(algebra)
    library.loan(code, "M1", "2026-12-31")
    # 00:00:30 in Jakarta is still 31 December in UTC.
    with at(2027, 1, 1, 0, 0, 30):
        prewarm()
        top_month = get("/api/visitors/monthly/top").json()
        monthly = get("/api/visitors/monthly").json()
        yearly = get("/api/visitors/yearly").json()
        weekly = get("/api/visitors/weekly").json()
        borrowed_year = get("/api/books/top/borrowed/year").json()
        borrowers_month = get("/api/books/top/borrowers/month").json()
        borrowed_all = get("/api/books/top/borrowed").json()

    assert top_month["period"] == {"from": "2027-01-01", "to": "2026-12-31"}
    assert top_month["data"] == []
    assert monthly["data"][0] == {"month": "2026-02", "total": 0}
    assert monthly["data"][-2:] == [
        {"month": "2026-12", "total": 1},
        {"month": "2027-01", "total": 0},
    ]
    assert yearly["data"][-2:] == [{"year": 2026, "total": 1}, {"year": 2027, "total": 0}]
    assert weekly["data"][-1] == {"date": "2026-12-31", "total": 1}
    assert borrowed_year["data"] == [] and borrowers_month["data"] == []
    assert borrowed_all["period"] == {"from": None, "to": "2026-12-31"}
    assert borrowed_all["data"] == [{"biblio_id": algebra, "title": "Aljabar", "total": 1}]


def test_first_of_month_keeps_the_year(library, get):
    library.visit("2026-11-30 10:00:00", member_id="M1", name="Budi")
    with at(2026, 12, 1, 8, 0):
        prewarm()
        month = get("/api/visitors/monthly/top").json()
        year = get("/api/visitors/yearly/top").json()
    assert month["period"] == {"from": "2026-12-01", "to": "2026-11-30"}
    assert month["data"] == []
    assert year["data"] == [
        {"member_id": "M1", "member_name": "Budi", "institution": "Fakultas Ekonomi", "total": 1}
    ]


def test_top_visitors_grouping_names_and_ties(library, get):
    # Member M1 changed name and faculty: the latest visit in the period names them.
    library.visit("2026-11-02 09:00:00", member_id="M1", name="Budi Santoso", institution="Ekonomi")
    library.visit("2026-11-03 09:00:00", member_id="M1", name="Budi Santoso", institution="Ekonomi")
    library.visit("2026-11-20 09:00:00", member_id="M1", name="Budi S. Wijaya", institution="Pasca")
    # One non-member, recorded with NULL and with '' as member_id: one group.
    library.visit("2026-11-04 10:00:00", member_id=None, name="Rina Tamu", institution="SMA 1")
    library.visit("2026-11-05 10:00:00", member_id=None, name="Rina Tamu", institution="SMA 1")
    library.visit("2026-11-06 10:00:00", member_id="", name="Rina Tamu", institution="SMA 1")
    # Same name, another institution: another visitor.
    library.visit("2026-11-06 11:00:00", member_id=None, name="Rina Tamu", institution="SMK 2")
    # Same total and name: ordered by member_id as text ("M10" < "M2").
    for member in ("M2", "M10"):
        library.visit("2026-11-07 10:00:00", member_id=member, name="Andi", institution="Hukum")
        library.visit("2026-11-08 10:00:00", member_id=member, name="Andi", institution="Hukum")
    library.visit("2026-03-01 10:00:00", member_id="M2", name="Andi", institution="Hukum")
    library.visit("2026-10-31 23:59:59", member_id="M3", name="Citra")  # last month
    library.visit("2026-11-25 08:00:00", member_id="M3", name="Citra")  # today
    library.visit("2026-11-25 08:05:00", member_id="M3", name="Citra")  # today

    with at(2026, 11, 25, 10, 0):
        prewarm()
        month = get("/api/visitors/monthly/top").json()
        year = get("/api/visitors/yearly/top").json()

    assert month["period"] == {"from": "2026-11-01", "to": "2026-11-24"}
    assert month["data"] == [
        {"member_id": "M1", "member_name": "Budi S. Wijaya", "institution": "Pasca", "total": 3},
        {"member_id": None, "member_name": "Rina Tamu", "institution": "SMA 1", "total": 3},
        {"member_id": "M10", "member_name": "Andi", "institution": "Hukum", "total": 2},
        {"member_id": "M2", "member_name": "Andi", "institution": "Hukum", "total": 2},
        {"member_id": None, "member_name": "Rina Tamu", "institution": "SMK 2", "total": 1},
    ]
    assert year["period"] == {"from": "2026-01-01", "to": "2026-11-24"}
    assert [(v["member_id"], v["total"]) for v in year["data"]] == [
        ("M2", 3), ("M1", 3), (None, 3), ("M10", 2), ("M3", 1), (None, 1),
    ]  # fmt: skip


def test_top_visitors_keep_ten_and_break_ties_at_the_cutoff(library, get):
    # Twelve members with one visit each: the ten first by name make the list.
    for n in range(12):
        library.visit("2026-11-10 10:00:00", member_id=f"K{n:02d}", name=f"Nama {11 - n:02d}")
    with at(2026, 11, 25, 10, 0):
        prewarm()
        month = get("/api/visitors/monthly/top").json()
    assert [v["member_name"] for v in month["data"]] == [f"Nama {n:02d}" for n in range(10)]


@pytest.fixture
def circulation(library):
    algebra = library.biblio("Aljabar Linear")
    zoology = library.biblio("Zoologi")
    lost_title = library.biblio("Dihapus")
    a1, a2 = library.item(algebra), library.item(algebra)
    z1 = library.item(zoology)
    orphan = library.item(9999)  # its title is gone from biblio
    gone_title_copy = library.item(lost_title)
    library.member("M1", "Budi")
    library.member("M2", "Andi")
    # Zoologi: 3 loans this month, 1 last year.
    for day in ("2026-11-02", "2026-11-03", "2026-11-24"):
        library.loan(z1, "M1", day)
    library.loan(z1, "M2", "2025-06-01")
    # Aljabar Linear: 2 copies, 4 loans, one of them today (not in any snapshot).
    library.loan(a1, "M2", "2026-11-10")
    library.loan(a2, "M2", "2026-02-10")
    library.loan(a2, "M9", "2025-01-10")  # M9 has left the library
    library.loan(a1, "M9", "2026-11-25")
    # Loans that no ranking of books may count: copy gone, title gone.
    library.loan("NO-SUCH-COPY", "M1", "2026-11-05")
    library.loan(orphan, "M1", "2026-11-05")
    # Loans without a member id count for books, not for borrowers.
    library.loan(z1, None, "2026-11-06")
    library.loan(z1, "", "2026-11-07")
    return {"algebra": algebra, "zoology": zoology, "lost": lost_title, "copy": gone_title_copy}


def test_top_borrowed_books(circulation, get):
    with at(2026, 11, 25, 10, 0):
        prewarm()
        everything = get("/api/books/top/borrowed").json()
        month = get("/api/books/top/borrowed/month").json()
        year = get("/api/books/top/borrowed/year").json()
    algebra, zoology = circulation["algebra"], circulation["zoology"]
    assert everything["period"] == {"from": None, "to": "2026-11-24"}
    assert everything["data"] == [
        {"biblio_id": zoology, "title": "Zoologi", "total": 6},
        {"biblio_id": algebra, "title": "Aljabar Linear", "total": 3},
    ]
    assert month["data"] == [
        {"biblio_id": zoology, "title": "Zoologi", "total": 5},
        {"biblio_id": algebra, "title": "Aljabar Linear", "total": 1},
    ]
    assert year["data"] == [
        {"biblio_id": zoology, "title": "Zoologi", "total": 5},
        {"biblio_id": algebra, "title": "Aljabar Linear", "total": 2},
    ]


def test_top_borrowers(circulation, get):
    with at(2026, 11, 25, 10, 0):
        prewarm()
        month = get("/api/books/top/borrowers/month").json()
        year = get("/api/books/top/borrowers/year").json()
    assert month["period"] == {"from": "2026-11-01", "to": "2026-11-24"}
    assert month["data"] == [
        {"member_id": "M1", "member_name": "Budi", "total": 5},
        {"member_id": "M2", "member_name": "Andi", "total": 1},
    ]
    assert year["data"] == [
        {"member_id": "M1", "member_name": "Budi", "total": 5},
        {"member_id": "M2", "member_name": "Andi", "total": 2},
    ]


def test_borrower_ties_put_a_departed_member_last(library, get):
    code = library.item(library.biblio("Kalkulus"))
    library.member("B", "Zainal")
    for member in ("A", "B"):  # A has no member row any more: its name is null
        library.loan(code, member, "2026-11-10")
    with at(2026, 11, 25, 10, 0):
        prewarm()
        month = get("/api/books/top/borrowers/month").json()
    assert month["data"] == [
        {"member_id": "B", "member_name": "Zainal", "total": 1},
        {"member_id": "A", "member_name": None, "total": 1},
    ]


def test_collection_and_its_old_path(circulation, get):
    with at(2026, 11, 25, 10, 0):
        prewarm()
        new = get("/api/books/stats/collection")
        old = get("/api/books/collection")
    assert new.json()["data"] == {"titles": 3, "items": 5}
    assert new.json()["period"] == {"from": None, "to": "2026-11-24"}
    assert old.content == new.content


def test_summaries(circulation, visits, get):
    with at(2026, 11, 25, 10, 0):
        prewarm()
        visitors = get("/api/visitors/summary").json()
        books = get("/api/books/summary").json()
        weekly = get("/api/visitors/weekly").json()
    assert visitors["weekly"] == weekly["data"]
    assert visitors["today"] is None  # the fast loop has not counted today yet
    assert visitors["source"].startswith("today:missing,weekly:cache,monthly:cache")
    assert set(visitors) >= {"today", "weekly", "monthly", "yearly", "top_month", "top_year"}
    assert books["collection"] == {"titles": 3, "items": 5}
    assert books["top_borrowed"][0]["title"] == "Zoologi"
    assert set(books) == {
        "collection", "top_borrowed", "top_borrowed_month", "top_borrowed_year",
        "top_borrowers_month", "top_borrowers_year", "generated_at",
    }  # fmt: skip


def test_a_title_that_is_gone_does_not_take_a_place_in_the_top_ten(library, get):
    orphan = library.item(9999)  # its biblio row was deleted
    for _ in range(5):
        library.loan(orphan, "M1", "2026-11-10")
    for n in range(11):
        library.loan(library.item(library.biblio(f"Judul {n:02d}")), "M1", "2026-11-10")
    with at(2026, 11, 25, 10, 0):
        prewarm()
        month = get("/api/books/top/borrowed/month").json()
    assert [book["title"] for book in month["data"]] == [f"Judul {n:02d}" for n in range(10)]
