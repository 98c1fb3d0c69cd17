"""Every top list keeps ten when there are more candidates, the ten with the most."""

from __future__ import annotations

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from tests.support.library import library_test

pytestmark = library_test

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
# Candidate n has n visits and n loans, and "04b" ties with "04": the top ten are 13 down to 5,
# then "04" before "04b" by name. A list that kept the whole tie would have eleven.
CANDIDATES = [f"{n:02d}" for n in range(1, 14)] + ["04b"]


def visits_of(candidate: str) -> int:
    return int(candidate[:2])


@pytest.fixture
def crowded(library):
    codes = {}
    for c in CANDIDATES:
        library.member(f"A{c}", f"Anggota {c}")
        codes[c] = library.item(library.biblio(f"Judul {c}"))
    for day in range(1, 14):  # in date order; candidate n comes on days 1..n
        for c in CANDIDATES:
            if visits_of(c) >= day:
                library.visit(f"2026-11-{day:02d} 09:00:00", member_id=f"A{c}", name=f"Anggota {c}")
                library.loan(codes[c], f"A{c}", f"2026-11-{day:02d}")
    with time_machine.travel(NOW, tick=False):
        call_command("prewarm", stdout=StringIO())


@pytest.mark.parametrize(
    "path",
    [
        "/api/visitors/monthly/top",
        "/api/visitors/yearly/top",
        "/api/books/top/borrowed",
        "/api/books/top/borrowed/month",
        "/api/books/top/borrowed/year",
        "/api/books/top/borrowers/month",
        "/api/books/top/borrowers/year",
    ],
)
def test_each_top_list_is_the_ten_with_the_most(crowded, admin_client, path):
    data = admin_client.get(path).json()["data"]
    assert [row["total"] for row in data] == [*range(13, 4, -1), 4]
    names = [row.get("member_name") or row.get("title") for row in data]
    assert names[0].endswith(" 13") and names[-1].endswith(" 04")


def test_the_summaries_carry_the_same_ten(crowded, admin_client):
    visitors = admin_client.get("/api/visitors/summary").json()
    books = admin_client.get("/api/books/summary").json()
    for rows in (visitors["top_month"], visitors["top_year"], *(
        books[field] for field in ("top_borrowed", "top_borrowed_month", "top_borrowed_year",
                                   "top_borrowers_month", "top_borrowers_year")
    )):  # fmt: skip
        assert len(rows) == 10 and rows[-1]["total"] == 4
