"""The fast path in front of Django answers exactly as the DRF views do, and only when it may."""

from __future__ import annotations

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from config.asgi import django_application
from metrics_cache import today
from metrics_cache.edge import ROUTES, Edge
from tests.asgi import call
from tests.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
ALLOWED_ORIGIN = "https://perpustakaan.example.ac.id"


class CountingDjango:
    """Django's ASGI application, counting the requests that reach it."""

    def __init__(self):
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await django_application(scope, receive, send)


@pytest.fixture
def clock():
    # Mid-month, mid-day: yesterday is in this month (the 1st would empty the top lists).
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=JAKARTA), tick=False):
        yield


@pytest.fixture
def stored(library, clock, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    settings.THROTTLE_ANON_RATE = "100000/min"
    library.visit("2026-11-17 10:00:00", member_id="2021001", name="Budi Santoso")
    library.member("2021001", "Budi Santoso")
    library.loan(library.item(library.biblio("Kalkulus")), "2021001", "2026-11-17")
    call_command("prewarm", stdout=StringIO())
    today.publish(7, datetime(2026, 11, 18).date())
    return library


@pytest.fixture
def credentials(client, db):
    staff = get_user_model().objects.create_user("pustakawan", password="x", is_staff=True)
    client.force_login(staff)
    token = Token.objects.create(user=staff)
    return {
        "session": {"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        "token": {"Authorization": f"Token {token.key}"},
    }


def both(method, path, headers=None, **kwargs):
    """The same request through Django alone and through the edge in front of it."""
    counting = CountingDjango()
    direct = call(django_application, method, path, headers, **kwargs)
    through_edge = call(Edge(counting), method, path, headers, **kwargs)
    return direct, through_edge, counting.calls


def assert_same(direct, fast, what):
    assert fast.status == direct.status, what
    assert fast.body == direct.body, what
    assert fast.header_list() == direct.header_list(), what


SUMMARIES = ["/api/visitors/summary", "/api/books/summary"]
# Answers that end (the stream has its own test: test_edge_stream).
CACHED = [path for path, (kind, _) in ROUTES.items() if kind != "stream"]


@pytest.mark.parametrize("mode", ["masked", "hidden", "full"])
def test_anonymous_answers_are_the_same_through_both_paths(stored, settings, mode):
    settings.MEMBER_DETAILS = mode
    for path in [*CACHED, *SUMMARIES]:
        for method in ("GET", "HEAD"):
            for headers in ({}, {"Origin": ALLOWED_ORIGIN}, {"Origin": "https://evil.example"},
                            {"Accept-Language": "id-ID,id;q=0.9"}):  # fmt: skip
                # Django first: it composes (and caches) a summary the edge then reads.
                direct, fast, reached_django = both(method, path, headers)
                assert_same(direct, fast, (mode, method, path, headers))
                assert reached_django == 0, f"{path} was not answered by the fast path"
                assert fast.status == 200, path


def test_conditional_requests_are_the_same_through_both_paths(stored):
    for path in [metric_path for metric_path, (kind, _) in ROUTES.items() if kind == "snapshot"]:
        etag = call(django_application, "GET", path).headers["etag"]
        for if_none_match, status in ((etag, 304), ('"other"', 200), (f'"x", {etag}', 304)):
            direct, fast, reached_django = both("GET", path, {"If-None-Match": if_none_match})
            assert_same(direct, fast, (path, if_none_match))
            assert (fast.status, reached_django) == (status, 0), path


def test_a_host_not_allowed_is_left_to_django(stored):
    for host in ("evil.example", "\xff\xfe"):
        direct, fast, reached_django = both("GET", "/api/visitors/weekly", {"Host": host})
        assert (direct.status, fast.status, reached_django) == (400, 400, 1), host
        assert_same(direct, fast, host)


def test_staff_and_token_requests_are_left_to_django(stored, credentials):
    for kind, headers in credentials.items():
        for path in ("/api/visitors/monthly/top", "/api/books/top/borrowers/month", *SUMMARIES):
            direct, fast, reached_django = both("GET", path, headers)
            assert_same(direct, fast, (kind, path))
            assert reached_django == 1, (kind, path)
            assert b"2021001" in fast.body, "staff see member numbers"
            assert fast.headers.get("cache-control", "").startswith(("private", "no-cache"))


def test_warming_is_left_to_django(library, clock, broker):
    for path in ("/api/visitors/weekly", "/api/books/collection", *SUMMARIES):
        direct, fast, reached_django = both("GET", path)
        assert (direct.status, fast.status, reached_django) == (202, 202, 1), path
        assert_same(direct, fast, path)


def test_redis_down_is_left_to_django(stored, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": settings.REDIS_URL}}
    from django.core.cache import caches

    caches.close_all()
    # Served from the last good copies in the service's database, by Django.
    for path in ("/api/visitors/weekly", "/api/visitors/monthly/top"):
        direct, fast, reached_django = both("GET", path)
        assert (fast.status, reached_django) == (200, 1), path
        assert_same(direct, fast, path)
