"""The copies of member, item and biblio the reports group by: read in primary-key chunks, a
pass making stale only the days of what changed (in any chunk, or deleted), a table that
cannot be read named with its GRANT, the names' revision moving only on a change, and the
admin's list of every copy."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from books import reports as book_reports
from books.models import LoanDay, MemberCopy
from metrics_cache.reports import breakdowns, catalog, copies, lookups
from metrics_cache.reports.catalog import copy_lookups
from metrics_cache.rollups import engine
from tests.support.library import dropped_table, library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

MEMBERS = ("M1", "M2", "M3", "M4", "M5")


def five_borrowers(library) -> None:
    library.member_type(1, "Siswa")
    library.member_type(2, "Guru")
    book = library.biblio("Fisika", classification="530")
    for number, member in enumerate(MEMBERS, start=1):
        library.member(member, member, member_type=1)
        library.item(book, f"B{number}")
        library.loan(f"B{number}", member, f"2026-11-0{number}")  # M1 on 1 Nov, M5 on 5 Nov


def stale_days() -> set[str]:
    days = LoanDay.objects.filter(breakdowns_stale=True, day__lt="2026-12-05")
    return {str(day) for day in days.values_list("day", flat=True)}


def counted(library) -> None:
    build()
    copy_lookups()
    catalog.after_folds(timezone.localdate())
    assert stale_days() == set()


def test_a_change_in_any_chunk_makes_its_days_stale(library, monkeypatch):
    five_borrowers(library)
    monkeypatch.setattr(copies, "CHUNK_ROWS", 3)
    monkeypatch.setattr(engine, "CHUNK_MIN_ROWS", 1)  # chunks of 3, then 6 (fast reads grow)
    with at(2026, 12, 5, 11, 0):
        counted(library)
        assert MemberCopy.objects.count() == 5
        library.execute("UPDATE member SET member_type_id = 2 WHERE member_id IN ('M1', 'M5')")
        copy_lookups()  # M1 in the first chunk, M5 in the last
    assert stale_days() == {"2026-11-01", "2026-11-05"}
    assert lookups.LookupCopy.objects.get(table="member").rows == 5
    # Each chunk sized from the last one's time, as the rollups' are: fast reads grow.
    with at(2026, 12, 5, 11, 0), CaptureQueriesContext(connections["library"]) as slims:
        copies.refresh(book_reports.MEMBERS)
    assert [re.search(r"LIMIT (\d+)", q["sql"]).group(1) for q in slims] == ["3", "6"]


def test_a_member_deleted_in_slims_makes_their_days_stale_and_leaves_the_copy(library):
    five_borrowers(library)
    with at(2026, 12, 5, 11, 0):
        counted(library)
        keys = dict(MemberCopy.objects.values_list("member_id", "member_key"))
        library.execute("UPDATE member SET member_type_id = 2 WHERE member_id = 'M4'")
        library.execute("DELETE FROM member WHERE member_id = 'M2'")
        # A pass names the keys changed and gone, as they are stored.
        assert copies.refresh(book_reports.MEMBERS).changed_keys == [keys["M4"], keys["M2"]]
        catalog.after_folds(timezone.localdate())
        library.execute("DELETE FROM member WHERE member_id = 'M3'")
        copy_lookups()
        assert stale_days() == {"2026-11-03"}
        assert not MemberCopy.objects.filter(member_id="M3").exists()


@pytest.mark.parametrize(("changed", "stale"), [(1, {"2026-11-01"}), (2, "every day")])
def test_more_changed_keys_than_many_make_every_day_stale(library, monkeypatch, changed, stale):
    five_borrowers(library)
    monkeypatch.setattr(breakdowns, "MANY_KEYS", 1)
    with at(2026, 12, 5, 11, 0):
        counted(library)
        members = ", ".join(f"'{m}'" for m in MEMBERS[:changed])
        library.execute(f"UPDATE member SET member_type_id = 2 WHERE member_id IN ({members})")
        copy_lookups()
    if stale == "every day":
        closed = LoanDay.objects.filter(day__lt="2026-12-05").values_list("day", flat=True)
        stale = {str(day) for day in closed}
    assert stale_days() == stale


def test_copies_before_the_rollups_are_built_make_nothing_stale(library):
    five_borrowers(library)
    with at(2026, 12, 5, 11, 0):
        assert set(copy_lookups().values()) == {""}
        assert MemberCopy.objects.count() == 5


@pytest.fixture
def without_member_table(library):
    with dropped_table("member"):
        yield


def test_a_big_table_that_cannot_be_read_is_named_with_its_grant(library, without_member_table):
    database = settings.DATABASES["library"]
    with at(2026, 12, 5, 11, 0):
        problem = copy_lookups()["member"]
    user = database["USER"] or "dashboard"
    grant = f"GRANT SELECT ON `{database['NAME']}`.`member` TO '{user}'@'%';"
    assert re.fullmatch(
        r"member cannot be read \(.*member.*\): reports cannot group by it\. "
        rf"For a DBA: {re.escape(grant)}",
        problem,
    )
    assert lookups.status()["member"] == problem


def test_the_names_revision_moves_only_when_a_name_changes(library):
    library.room("R1", "Ruang Baca")
    with at(2026, 12, 5, 11, 0):
        copy_lookups()
        first = lookups.revision()
        copy_lookups()
        assert lookups.revision() == first
        library.execute("UPDATE mst_visitor_room SET name = 'Aula' WHERE name = 'Ruang Baca'")
        copy_lookups()
        assert lookups.revision() != first


def test_the_admin_lists_every_copy_with_its_rows_and_time(library, admin_client):
    five_borrowers(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        assert set(lookups.status()) == {"mst_visitor_room", "mst_member_type", "mst_coll_type",
                                         "mst_location", "member", "item", "biblio"}  # fmt: skip
        page = admin_client.get("/admin/metrics_cache/lookupcopy/").content.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.split('id="result_list"', 1)[1], re.S)
    text = {re.sub(r"<[^>]+>|\s+", " ", row).split()[0]: re.sub(r"<[^>]+>", " ", row)
            for row in rows[1:]}  # fmt: skip
    assert {"member", "item", "biblio", "mst_member_type", "mst_visitor_room"} <= set(text)
    assert re.search(r"\b5\b", text["member"]) and re.search(r"\b2\b", text["mst_member_type"])
    # Copied, and changed (a first copy), at the same moment.
    assert text["member"].count("Dec. 5, 2026, 11 a.m.") == 2
    assert text["mst_member_type"].count("Dec. 5, 2026, 11 a.m.") == 2
    assert admin_client.get("/admin/metrics_cache/lookupcopy/add/").status_code == 403
