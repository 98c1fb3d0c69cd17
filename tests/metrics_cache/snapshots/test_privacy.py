"""Member details: masked for the public by default, full for staff (session or API token)."""

from __future__ import annotations

from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from metrics_cache.snapshots import privacy, refresh, store
from metrics_cache.snapshots.privacy import mask_name
from tests.support.library import library_test

pytestmark = library_test


@pytest.fixture(autouse=True)
def mid_month():
    """Mid-morning on the 25th in the library's zone: yesterday is in this month and year."""
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))):
        yield


@pytest.mark.parametrize(
    ("name", "masked"),
    [("Budi Santoso", "Budi S."), ("Siti Nur Hidayat", "Siti N. H."), ("Butet", "Butet"),
     ("", ""), (None, None), (" ", " "), ("  Budi   Santoso ", "Budi S.")],
)  # fmt: skip
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("mode", "member_id", "member_name"),
    [("masked", None, "Budi S."), ("hidden", None, None), ("full", "2021001", "Budi Santoso")],
)
def test_anonymous_requests_follow_member_details(
    library, client, settings, mode, member_id, member_name
):
    settings.MEMBER_DETAILS = mode
    snapshot_rows(library)
    for path in ("/api/visitors/monthly/top", "/api/books/top/borrowers/month"):
        row = client.get(path).json()["data"][0]
        assert (row["member_id"], row["member_name"]) == (member_id, member_name), path
    summary = client.get("/api/visitors/summary").json()
    assert summary["top_month"][0]["member_name"] == member_name


def snapshot_rows(library) -> None:
    """A member who visited and borrowed yesterday, prewarmed."""
    yesterday = date(2026, 11, 24)
    library.truncate()
    library.visit(f"{yesterday} 10:00:00", member_id="2021001", name="Budi Santoso")
    library.member("2021001", "Budi Santoso")
    library.loan(library.item(library.biblio("Kalkulus")), "2021001", yesterday)
    call_command("prewarm", stdout=StringIO())


def test_staff_see_full_details_by_session_and_by_token(library, client, admin_client):
    snapshot_rows(library)
    by_session = admin_client.get("/api/visitors/monthly/top")
    assert by_session.json()["data"][0]["member_id"] == "2021001"
    assert by_session["Cache-Control"] == "private, max-age=60"
    staff = get_user_model().objects.create_user("pustakawan", password="x", is_staff=True)
    token = Token.objects.create(user=staff)
    by_token = client.get(
        "/api/books/top/borrowers/month", headers={"Authorization": f"Token {token.key}"}
    )
    assert by_token.json()["data"][0] == {
        "member_id": "2021001", "member_name": "Budi Santoso", "total": 1,
    }  # fmt: skip
    public = client.get("/api/visitors/monthly/top")
    assert public["Cache-Control"] == "public, max-age=60"
    assert {"cookie", "authorization"} <= {v.strip().lower() for v in public["Vary"].split(",")}
    assert public["ETag"] != by_session["ETag"]


def test_non_staff_users_get_the_public_view(library, client):
    snapshot_rows(library)
    user = get_user_model().objects.create_user("kiosk", password="x")
    token = Token.objects.create(user=user)
    row = client.get(
        "/api/visitors/monthly/top", headers={"Authorization": f"Token {token.key}"}
    ).json()["data"][0]
    assert row["member_id"] is None


def test_restored_snapshots_keep_both_audiences(library):
    snapshot_rows(library)
    from django_redis import get_redis_connection

    get_redis_connection("default").flushdb()
    refresh.refresh(["top_visitors_month"], force=False)
    assert b"2021001" in store.read("top_visitors_month", privacy.FULL).body
    for audience in (privacy.MASKED, privacy.HIDDEN):
        assert b"2021001" not in store.read("top_visitors_month", audience).body
