"""The copy of SLiMS's lookup tables: rooms named in the report (kiosk codes in any case), a new
name served at once, and a table missing or not granted: codes without names, the GRANT in
/health and doctor, never a 500."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.test import Client

from demo.writer import library_writer
from metrics_cache.operations.doctor import examine
from metrics_cache.reports.catalog import copy_lookups
from metrics_cache.reports.lookups import copy_record, failed, grant_statement
from tests.support.library import dropped_table, library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30", "by": "room"}


def rooms(library) -> None:
    library.room("LIB1", "Ruang Baca")
    library.room("AUD", "Aula")
    library.room("EMPTY", "Ruang Kosong")
    library.visit("2026-11-02 08:15:00", member_id="M1", room="lib1")
    library.visit("2026-11-02 09:15:00", member_id="M2", room="AUD")
    library.visit("2026-11-03 10:00:00", member_id=None, room="GONE")
    library.visit("2026-11-03 11:00:00", member_id=None)


def test_rooms_are_named_and_listed_before_unknown_codes_and_visits_without_a_room(library):
    rooms(library)
    with at(2026, 12, 5, 11, 0):
        build()
        assert copy_lookups()["mst_visitor_room"] == ""
        data = Client().get("/api/reports/visits", NOVEMBER).json()["data"]
    assert data == [
        {"room_code": "AUD", "room_name": "Aula", "total": 1},
        {"room_code": "EMPTY", "room_name": "Ruang Kosong", "total": 0},
        {"room_code": "LIB1", "room_name": "Ruang Baca", "total": 1},
        {"room_code": "GONE", "room_name": None, "total": 1},
        {"room_code": None, "room_name": None, "total": 1},
    ]


def test_a_renamed_room_shows_its_new_name_after_the_next_copy(library):
    rooms(library)
    with at(2026, 12, 5, 11, 0):
        build()
        copy_lookups()
        assert Client().get("/api/reports/visits", NOVEMBER).json()["data"][0]["room_name"] == (
            "Aula"
        )
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute("UPDATE mst_visitor_room SET name = 'Aula Utama' WHERE name = 'Aula'")
        copy_lookups()
        assert Client().get("/api/reports/visits", NOVEMBER).json()["data"][0]["room_name"] == (
            "Aula Utama"
        )


@pytest.fixture
def without_rooms_table(library):
    with dropped_table("mst_visitor_room"):
        yield


def test_a_missing_lookup_table_leaves_codes_without_names_and_says_which_grant(
    library, without_rooms_table
):
    library.visit("2026-11-02 08:15:00", member_id="M1", room="LIB1")
    with at(2026, 12, 5, 11, 0):
        build()
        problems = copy_lookups()
        assert problems["mst_member_type"] == ""
        assert "GRANT SELECT ON" in problems["mst_visitor_room"]
        response = Client().get("/api/reports/visits", NOVEMBER)
        assert response.status_code == 200
        assert response.json()["data"][0] == {"room_code": "LIB1", "room_name": None, "total": 1}
        health = Client().get("/health").json()["checks"]["lookups"]
        assert health["mst_member_type"] == "ok"
        assert "`mst_visitor_room` TO" in health["mst_visitor_room"]
    findings = [f for f in examine(explain=False).findings if "mst_visitor_room" in f.message]
    assert [f.level for f in findings] == ["warning"]
    assert findings[0].fix.startswith("GRANT SELECT ON `") and "mst_visitor_room" in findings[0].fix
    assert not examine(explain=False).errors


def test_the_problem_names_the_reason_and_the_grant_for_the_service_s_user(
    library, without_rooms_table, caplog
):
    database = settings.DATABASES["library"]
    with at(2026, 12, 5, 11, 0):
        problem = copy_lookups()["mst_visitor_room"]
    user = database["USER"] or "dashboard"
    grant = f"GRANT SELECT ON `{database['NAME']}`.`mst_visitor_room` TO '{user}'@'%';"
    assert re.fullmatch(
        r"mst_visitor_room cannot be read \((Table '.*mst_visitor_room' doesn't exist"
        r"|no such table: mst_visitor_room)\): reports show its codes without names\. "
        rf"For a DBA: {re.escape(grant)}",
        problem,
    )
    assert f"copy of mst_visitor_room failed: {problem}" in caplog.messages


def test_the_grant_names_a_dashboard_user_when_the_url_has_none(monkeypatch):
    monkeypatch.setitem(settings.DATABASES["library"], "USER", "")
    name = settings.DATABASES["library"]["NAME"]
    assert grant_statement("loan") == f"GRANT SELECT ON `{name}`.`loan` TO 'dashboard'@'%';"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DatabaseError(1142, "SELECT command denied"), "SELECT command denied"),
        (DatabaseError("no such table: loan"), "no such table: loan"),
        (DatabaseError(), ""),
    ],
)
def test_the_reason_is_the_driver_s_message_without_its_code(library, error, reason):
    record = failed(copy_record("room", "mst_visitor_room"), error, "names missing")
    assert record.error.startswith(f"mst_visitor_room cannot be read ({reason}): names missing.")
