"""Conditional GET on snapshots as RFC 9110 (13.1.2) defines If-None-Match: a list of entity
tags, weak comparison, and `*`."""

from __future__ import annotations

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from tests.support.library import library_test

pytestmark = library_test


@pytest.fixture
def etag(library, client) -> str:
    library.visit("2026-01-05 10:00:00")
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    return client.get("/api/visitors/weekly")["ETag"]


def status(client, if_none_match: str) -> int:
    return client.get("/api/visitors/weekly", headers={"If-None-Match": if_none_match}).status_code


def test_the_etag_is_a_strong_quoted_tag(etag):
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")


@pytest.mark.parametrize(
    "header",
    [
        "{etag}",
        '"older", {etag}',  # a cache holding several versions lists them all
        '{etag},"older"',
        '"a",  {etag} , "b"',
        "W/{etag}",  # If-None-Match compares weakly: a weak tag matches its strong twin
        '"older", W/{etag}',
        "*",
        " * ",
    ],
)
def test_a_matching_if_none_match_answers_304(client, etag, header):
    assert status(client, header.format(etag=etag)) == 304


@pytest.mark.parametrize(
    "header",
    [
        '"older"',
        '"older", "other"',
        'W/"older"',
        "{bare}",  # an unquoted tag is not the same entity tag
        '"{bare}x"',
        "",
    ],
)
def test_other_tags_answer_the_body(client, etag, header):
    response = client.get(
        "/api/visitors/weekly",
        headers={"If-None-Match": header.format(bare=etag.strip('"'))},
    )
    assert response.status_code == 200
    assert response.json()["period"]["to"]


def test_304_keeps_the_validators_and_the_caching_headers(client, etag):
    response = client.get("/api/visitors/weekly", headers={"If-None-Match": f'"x", {etag}'})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["Last-Modified"].endswith("GMT")


def test_staff_and_public_copies_have_their_own_tags(library, client, admin_client):
    library.visit("2026-01-05 10:00:00", member_id="M1", name="Budi Santoso")
    with time_machine.travel(datetime(2026, 11, 25, 10, tzinfo=ZoneInfo("Asia/Jakarta"))):
        call_command("prewarm", "--only", "top_visitors_year", stdout=StringIO())
        public = client.get("/api/visitors/yearly/top")["ETag"]
        staff = admin_client.get("/api/visitors/yearly/top")
        # A browser that cached the public copy must not get a 304 for the staff one.
        again = admin_client.get("/api/visitors/yearly/top", headers={"If-None-Match": public})
    assert staff["ETag"] != public
    assert again.status_code == 200
