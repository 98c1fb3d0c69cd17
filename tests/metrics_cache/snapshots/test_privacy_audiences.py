"""Audiences on every cached answer: what staff were shown never reaches the public, and the
other way round, whichever asks first."""

from __future__ import annotations

from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from metrics_cache.snapshots.registry import METRICS
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
PERSONAL_PATHS = [f"/{path}" for m in METRICS if m.personal for path in m.paths]
SUMMARIES = {
    "/api/visitors/summary": ("top_month", "top_year"),
    "/api/books/summary": ("top_borrowers_month", "top_borrowers_year"),
}


@pytest.fixture
def members(library, settings):
    """A member who visited and borrowed yesterday, in every personal snapshot (month, year,
    all time): the clock is mid-month, so every period holds yesterday."""
    settings.MEMBER_DETAILS = "masked"
    yesterday = date(2026, 11, 24)
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False):
        library.member("2021001", "Budi Santoso")
        library.visit(f"{yesterday} 10:00:00", member_id="2021001", name="Budi Santoso")
        library.loan(library.item(library.biblio("Kalkulus")), "2021001", yesterday)
        call_command("prewarm", stdout=StringIO())
        yield


def rows_of(summary: dict, fields) -> list[dict]:
    return [row for field in fields for row in summary[field]]


def assert_public(rows: list[dict]) -> None:
    assert rows
    for row in rows:
        assert row["member_id"] is None and row["member_name"] == "Budi S.", row


def assert_full(rows: list[dict]) -> None:
    assert rows
    for row in rows:
        assert row["member_id"] == "2021001" and row["member_name"] == "Budi Santoso", row


@pytest.mark.parametrize("path", SUMMARIES)
def test_a_summary_shown_to_staff_first_is_not_served_to_the_public(
    members, client, admin_client, path
):
    assert_full(rows_of(admin_client.get(path).json(), SUMMARIES[path]))
    assert_public(rows_of(client.get(path).json(), SUMMARIES[path]))
    assert_full(rows_of(admin_client.get(path).json(), SUMMARIES[path]))


@pytest.mark.parametrize("path", SUMMARIES)
def test_a_summary_shown_to_the_public_first_is_not_served_to_staff(
    members, client, admin_client, path
):
    assert_public(rows_of(client.get(path).json(), SUMMARIES[path]))
    assert_full(rows_of(admin_client.get(path).json(), SUMMARIES[path]))
    assert_public(rows_of(client.get(path).json(), SUMMARIES[path]))


@pytest.mark.parametrize("path", PERSONAL_PATHS)
def test_every_personal_snapshot_keeps_the_audiences_apart(members, client, admin_client, path):
    staff = admin_client.get(path)
    public = client.get(path)
    assert_full(staff.json()["data"])
    assert_public(public.json()["data"])
    assert staff["Cache-Control"] == "private, max-age=60"
    assert public["Cache-Control"] == "public, max-age=60"


def test_a_change_of_member_details_applies_to_the_next_request(members, client, settings):
    assert_public(client.get("/api/visitors/monthly/top").json()["data"])
    assert_public(rows_of(client.get("/api/visitors/summary").json(), ("top_month",)))
    # The service restarted with another setting; the snapshots are still yesterday night's.
    settings.MEMBER_DETAILS = "hidden"
    for row in [
        *client.get("/api/visitors/monthly/top").json()["data"],
        *client.get("/api/books/top/borrowers/year").json()["data"],
        *rows_of(client.get("/api/visitors/summary").json(), ("top_month", "top_year")),
    ]:
        assert (row["member_id"], row["member_name"]) == (None, None), row
    settings.MEMBER_DETAILS = "full"
    assert_full(client.get("/api/visitors/monthly/top").json()["data"])
    assert_full(rows_of(client.get("/api/books/summary").json(), SUMMARIES["/api/books/summary"]))
