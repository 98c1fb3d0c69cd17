"""Loans by member type, collection type, location and Dewey class, and visits by member type:
grouped by what the member, copy and title are now, with SLiMS's untidy data (a member or copy
or title deleted after its loans, types that are gone, classifications that are not Dewey
numbers), every breakdown adding up to the period's total."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from books.models import LoanBreakdown, LoanDay
from books.reports import dewey_class
from metrics_cache.reports import breakdowns, catalog
from metrics_cache.reports.catalog import copy_lookups
from tests.support.client import get_json
from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        ("297.3", "200"),
        ("2X1.1", "200"),  # the Islamic-studies expansion
        ("  899.221 3", "800"),
        ("0", "000"),
        ("FIC", None),
        ("X 123", None),
        ("\t1", "100"),
        ("R 001", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("٣٠٠", None),  # digits of another script are not Dewey's
    ],
)
def test_the_dewey_main_class_is_the_first_character_after_spaces_if_a_digit(
    classification, expected
):
    assert dewey_class(classification) == expected


def a_circulating_library(library) -> None:
    library.member_type(1, "Siswa")
    library.member_type(2, "Guru")
    library.collection_type(10, "Referensi")
    library.collection_type(11, "Fiksi")
    library.location("PUS", "Perpustakaan Pusat")
    library.location("CAB", None)
    library.member("S1", "Siti", member_type=1)
    library.member("S2", "Sari", member_type=1)
    library.member("G1", "Guntur", member_type=2)
    library.member("X1", "Xena")  # no type
    islam = library.biblio("Fiqih", classification="2X1.1")
    novel = library.biblio("Laskar Pelangi", classification="FIC")
    science = library.biblio("Fisika", classification=" 530.1")
    gone = library.biblio("Hilang", classification="100")
    fiqih = library.item(islam, "B1", coll_type=10, location="PUS")
    laskar = library.item(novel, "B2", coll_type=11, location="CAB")
    fisika = library.item(science, "B3", coll_type=99, location="ZZZ")  # unknown codes
    orphan = library.item(gone, "B4", coll_type=11, location="PUS")
    # Loans in a hostile order: November's at high ids, an import of last year in between.
    library.loan("b1", "s1", "2026-11-02")  # codes typed in another case: the same to SLiMS
    library.loan(laskar, "S2", "2026-11-03")
    library.loan("B9", "G1", "2025-11-05")  # a copy that never existed, last year
    library.loan(fisika, "G1", "2026-11-04")
    library.loan(orphan, "GONE", "2026-11-05")  # a member whose row is gone
    library.loan(laskar, None, "2026-11-06")  # no member
    library.loan(laskar, "", "2026-11-07")  # no member either
    library.loan(fiqih, "X1", "2026-11-08")
    library.loan("B7", "S1", "2026-11-09")  # a copy deleted since (never existed here)
    library.loan(fiqih, "S2", "2026-12-05")  # today: in no report
    library.execute("DELETE FROM biblio WHERE title = %s", ["Hilang"])  # title deleted


def report(by: str) -> dict:
    return get_json("/api/reports/loans", {**NOVEMBER, "by": by})


def test_loans_by_what_the_member_copy_and_title_are_now(library):
    a_circulating_library(library)
    with at(2026, 12, 5, 11, 0):
        build()
        assert set(copy_lookups().values()) == {""}
        member_types = report("member_type")
        collection_types = report("collection_type")
        locations = report("location")
        classes = report("class")
    assert member_types["total"] == 8
    assert member_types["no_member"] == 2
    assert member_types["data"] == [
        {"member_type_id": 1, "member_type_name": "Siswa", "total": 3},
        {"member_type_id": 2, "member_type_name": "Guru", "total": 1},
        {"member_type_id": None, "member_type_name": None, "total": 2},  # X1, and GONE
    ]
    assert collection_types["data"] == [
        {"coll_type_id": 11, "coll_type_name": "Fiksi", "total": 4},
        {"coll_type_id": 10, "coll_type_name": "Referensi", "total": 2},
        {"coll_type_id": 99, "coll_type_name": None, "total": 1},
        {"coll_type_id": None, "coll_type_name": None, "total": 1},  # B7: no such copy
    ]
    assert locations["data"] == [
        {"location_id": "CAB", "location_name": None, "total": 3},
        {"location_id": "PUS", "location_name": "Perpustakaan Pusat", "total": 3},
        {"location_id": "ZZZ", "location_name": None, "total": 1},
        {"location_id": None, "location_name": None, "total": 1},
    ]
    assert classes["data"] == [
        {"class": "000", "total": 0},
        {"class": "100", "total": 0},  # its title was deleted: null
        {"class": "200", "total": 2},
        {"class": "300", "total": 0},
        {"class": "400", "total": 0},
        {"class": "500", "total": 1},
        {"class": "600", "total": 0},
        {"class": "700", "total": 0},
        {"class": "800", "total": 0},
        {"class": "900", "total": 0},
        {"class": None, "total": 5},  # FIC x3, the title gone, the copy gone
    ]
    for body in (member_types, collection_types, locations, classes):
        extra = body.get("no_member", 0)
        assert sum(item["total"] for item in body["data"]) + extra == body["total"]


def test_a_member_changing_type_moves_their_past_loans_and_visits(library):
    a_circulating_library(library)
    library.visit("2026-11-02 08:00:00", member_id="s1")
    library.visit("2026-11-03 08:00:00", member_id="S1")
    library.visit("2026-11-03 09:00:00", member_id="G1")
    library.visit("2026-11-03 10:00:00", member_id=None)
    library.visit("2026-11-03 11:00:00", member_id="")
    library.visit("2026-11-03 12:00:00", member_id="NOBODY")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        visits = Client().get("/api/reports/visits", {**NOVEMBER, "by": "member_type"}).json()
        assert visits["guests"] == 2 and visits["total"] == 6
        assert visits["data"] == [
            {"member_type_id": 1, "member_type_name": "Siswa", "total": 2},
            {"member_type_id": 1 + 1, "member_type_name": "Guru", "total": 1},
            {"member_type_id": None, "member_type_name": None, "total": 1},
        ]
        library.execute("UPDATE member SET member_type_id = 2 WHERE member_id = 'S1'")
        copy_lookups()
        visits = Client().get("/api/reports/visits", {**NOVEMBER, "by": "member_type"}).json()
        assert visits["data"][0] == {"member_type_id": 2, "member_type_name": "Guru", "total": 3}
        assert report("member_type")["data"][0] == {
            "member_type_id": 2, "member_type_name": "Guru", "total": 3
        }  # fmt: skip


def test_a_year_earlier_beside_grouped_items(library):
    a_circulating_library(library)
    library.loan("B1", "S1", "2025-11-20")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        body = (
            Client()
            .get("/api/reports/loans", {**NOVEMBER, "by": "class", "compare": "previous_year"})
            .json()
        )
    assert body["previous_total"] == 2
    assert body["data"][2] == {"class": "200", "total": 2, "previous": 1}
    assert body["data"][-1] == {"class": None, "total": 5, "previous": 1}  # B9: no copy


def test_a_late_loan_for_a_closed_day_is_counted_and_counts_are_kept_per_day(library):
    a_circulating_library(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        assert catalog.after_folds(timezone.localdate())
        # Every closed day counted; today's (still folding) left for later.
        assert not LoanDay.objects.filter(breakdowns_stale=True, day__lt="2026-12-05").exists()
        assert LoanDay.objects.get(day="2026-12-05").breakdowns_stale
        assert (
            LoanBreakdown.objects.filter(dimension="class", value="=200").aggregate(n=Sum("total"))[
                "n"
            ]
            == 2
        )
        library.loan("B1", "S1", "2026-11-20")  # typed in late, for a closed day
        build()
        assert LoanDay.objects.get(day="2026-11-20").breakdowns_stale
        assert report("class")["data"][2] == {"class": "200", "total": 3}
        assert not LoanDay.objects.get(day="2026-11-20").breakdowns_stale


def test_many_changed_members_make_every_day_stale_at_once(library, monkeypatch):
    a_circulating_library(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        catalog.after_folds(timezone.localdate())
        monkeypatch.setattr(breakdowns, "MANY_KEYS", 1)
        library.execute("UPDATE member SET member_type_id = 2")
        copy_lookups()  # four members changed: more than MANY_KEYS
        assert not LoanDay.objects.filter(breakdowns_stale=False).exists()
        assert report("member_type")["data"][0] == {
            "member_type_id": 2, "member_type_name": "Guru", "total": 5
        }  # fmt: skip


def identity(item: dict) -> tuple:
    """What identifies an item: every field but its counts and names."""
    return tuple(v for k, v in item.items() if k not in ("total", "previous")
                 and not k.endswith("_name"))  # fmt: skip


@pytest.mark.parametrize(
    ("path", "by"),
    [("/api/reports/loans", by) for by in ("weekday", "member_type", "collection_type",
                                             "location", "class")]
    + [("/api/reports/visits", by) for by in ("hour", "weekday_hour", "room", "audience",
                                                "member_type")],
)  # fmt: skip
def test_each_item_s_year_earlier_is_the_same_item_of_last_year_s_report(library, path, by):
    a_circulating_library(library)
    library.room("R1", "Ruang Baca")
    for day, member, copy, room in (
        ("2025-11-03 09:00:00", "S1", "B1", "R1"),
        ("2025-11-04 10:00:00", "G1", "B3", None),
        ("2025-11-04 10:30:00", "S2", "B2", "R1"),
        ("2026-11-04 10:00:00", "G1", "B1", "R1"),
    ):
        library.loan(copy, member, day[:10])
        library.visit(day, member_id=member, room=room)
    last_year = {"from": "2025-11-01", "to": "2025-11-30", "by": by}
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        now = Client().get(path, {**NOVEMBER, "by": by, "compare": "previous_year"}).json()
        before = Client().get(path, last_year).json()
    earlier = {identity(item): item["total"] for item in before["data"]}
    assert [item["previous"] for item in now["data"]] == [
        earlier.get(identity(item), 0) for item in now["data"]
    ]
    assert sum(item["previous"] for item in now["data"]) > 0


def test_loans_all_by_typed_members_of_dewey_titles_have_no_null_type_and_a_zero_null_class(
    library,
):
    library.member_type(1, "Siswa")
    library.member("S1", "Siti", member_type=1)
    library.item(library.biblio("Fisika", classification="530"), "B1")
    library.loan("B1", "S1", "2026-11-02")
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        types, classes = report("member_type"), report("class")
    assert types["data"] == [{"member_type_id": 1, "member_type_name": "Siswa", "total": 1}]
    assert types["no_member"] == 0
    assert classes["data"][5] == {"class": "500", "total": 1}
    assert classes["data"][-1] == {"class": None, "total": 0}


def test_a_pass_of_the_copies_makes_stale_only_the_days_of_what_changed(library):
    a_circulating_library(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()  # the first pass: every member, copy and title is new
        catalog.after_folds(timezone.localdate())

        def stale() -> set[str]:
            days = LoanDay.objects.filter(breakdowns_stale=True, day__lt="2026-12-05")
            return {str(day) for day in days.values_list("day", flat=True)}

        assert stale() == set()
        copy_lookups()  # nothing changed in SLiMS
        assert stale() == set()
        library.execute("UPDATE member SET member_type_id = 2 WHERE member_id = 'S2'")
        copy_lookups()
        assert stale() == {"2026-11-03"}  # S2's one loan of a closed day
