"""The fast path in front of Django answers exactly as the DRF views do, and only when it may."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.asgi import get_asgi_application
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from config.asgi import django_application
from metrics_cache.base import keys
from metrics_cache.base import redis as base_redis
from metrics_cache.serving.edge import ROUTES, Edge
from metrics_cache.serving.instruments import REGISTRY
from metrics_cache.snapshots import store
from tests.support.asgi import _call, call, scope
from tests.support.edge import ALLOWED_ORIGIN, JAKARTA, CountingDjango, assert_same, both
from tests.support.library import library_test
from tests.support.urls import urls_with

pytestmark = library_test


@pytest.fixture
def credentials(client, db):
    staff = get_user_model().objects.create_user("pustakawan", password="x", is_staff=True)
    client.force_login(staff)
    token = Token.objects.create(user=staff)
    return {
        "session": {"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        "token": {"Authorization": f"Token {token.key}"},
    }


SUMMARIES = ["/api/visitors/summary", "/api/books/summary"]
# Answers that end (the stream has its own test: test_edge_stream).
CACHED = [path for path, (kind, _) in ROUTES.items() if kind not in ("stream", "network")]


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


# Security settings an operator may change (HTTPS=true, or one by one in settings): the fast
# path adds what SecurityMiddleware, XFrameOptionsMiddleware and CorsMiddleware would.
SECURITY_SETTINGS = [
    {"SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
     "SECURE_HSTS_PRELOAD": False},
    {"SECURE_HSTS_SECONDS": 86400, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
     "SECURE_HSTS_PRELOAD": True},
    {"SECURE_HSTS_SECONDS": 60, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
     "SECURE_HSTS_PRELOAD": True},
    {"SECURE_CONTENT_TYPE_NOSNIFF": False, "SECURE_REFERRER_POLICY": None,
     "SECURE_CROSS_ORIGIN_OPENER_POLICY": None, "X_FRAME_OPTIONS": "SAMEORIGIN"},
    {"SECURE_REFERRER_POLICY": "no-referrer", "SECURE_CROSS_ORIGIN_OPENER_POLICY": "unsafe-none"},
]  # fmt: skip


@pytest.mark.parametrize("changed", SECURITY_SETTINGS)
def test_security_settings_are_mirrored_over_http_and_https(stored, settings, changed):
    for name, value in changed.items():
        setattr(settings, name, value)
    # SecurityMiddleware reads its settings when the handler is built, as at start-up.
    django_app = get_asgi_application()
    for scheme in ("https", "http"):
        for path in ("/api/visitors/weekly", "/api/visitors/today", *SUMMARIES):
            direct, fast, reached_django = both("GET", path, app=django_app, scheme=scheme)
            assert_same(direct, fast, (scheme, path))
            assert reached_django == 0, path
            hsts = fast.headers.get("strict-transport-security")
            if scheme == "http" or not changed.get("SECURE_HSTS_SECONDS"):
                assert hsts is None, "HSTS only over HTTPS (RFC 6797 §7.2)"
            else:
                assert hsts.startswith(f"max-age={changed['SECURE_HSTS_SECONDS']}"), hsts


def test_the_language_follows_the_cookie_then_accept_language(stored):
    cases = {
        "django_language=id": "id",
        "django_language=en; theme=dark": "en",
        "theme=dark": "en",  # no language cookie, no Accept-Language: LANGUAGE_CODE
    }
    for cookie, language in cases.items():
        for accept in ("", "id-ID,id;q=0.9", "en-US"):
            request_headers = {"Cookie": cookie, **({"Accept-Language": accept} if accept else {})}
            direct, fast, reached_django = both("GET", "/api/visitors/weekly", request_headers)
            assert_same(direct, fast, request_headers)
            assert reached_django == 0, "a cookie that is not the session's stays on the fast path"
            if cookie != "theme=dark" or not accept:
                assert fast.headers["content-language"] == language, request_headers


def test_cors_origins_are_allowed_as_corsheaders_allows_them(stored, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN, "http://127.0.0.1:8080", "null"]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://\w+\.example\.org$"]
    cases = {
        ALLOWED_ORIGIN: True,
        "http://127.0.0.1:8080": True,
        "http://127.0.0.1:8081": False,  # the port is part of the origin
        "https://127.0.0.1:8080": False,  # so is the scheme
        "http://perpustakaan.example.ac.id": False,
        "null": True,
        "https://kampus.example.org": True,
        "https://kampus.example.org.evil": False,
        "http://kampus.example.org": False,
        "http://[::1": False,  # not a URL
    }
    for origin, allowed in cases.items():
        direct, fast, reached_django = both("GET", "/api/visitors/today", {"Origin": origin})
        assert_same(direct, fast, origin)
        assert reached_django == 0, origin
        assert ("access-control-allow-origin" in fast.headers) is allowed, origin
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    direct, fast, _ = both("GET", "/api/visitors/today", {"Origin": "null"})
    assert_same(direct, fast, "null not listed")
    assert "access-control-allow-origin" not in fast.headers
    # Any origin allowed by a pattern: a request without Origin (not a browser's cross-origin
    # fetch) still gets no CORS header.
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^.*$"]
    direct, fast, _ = both("GET", "/api/visitors/today")
    assert_same(direct, fast, "no Origin")
    assert "access-control-allow-origin" not in fast.headers
    direct, fast, _ = both("GET", "/api/visitors/today", {"Origin": "https://any.example"})
    assert fast.headers["access-control-allow-origin"] == "https://any.example"


def test_what_the_fast_path_must_not_answer_goes_to_django(stored, settings):
    session = f"{settings.SESSION_COOKIE_NAME}=abc"
    cases = [
        ("POST", "/api/visitors/weekly", {}, {}),  # 405 is DRF's to say
        ("OPTIONS", "/api/visitors/weekly", {}, {}),
        ("DELETE", "/api/visitors/today", {}, {}),
        ("GET", "/api/visitors/weekly/", {}, {}),  # not a cached path
        ("GET", "/api/visitors/weekly", {}, {"query": b"format=json"}),  # DRF's override
        ("GET", "/api/visitors/weekly", {"Cookie": session}, {}),  # a session, even a stale one
        ("GET", "/api/visitors/summary", {"Cookie": f"theme=dark; {session}"}, {}),
        ("GET", "/api/visitors/today", {"Authorization": "Token nope"}, {}),
    ]
    for method, path, request_headers, kwargs in cases:
        direct, fast, reached_django = both(method, path, request_headers, **kwargs)
        assert reached_django == 1, (method, path, request_headers, kwargs)
        assert_same(direct, fast, (method, path))


def test_the_stream_goes_to_django_when_the_edges_stream_is_switched_off(stored, settings):
    with urls_with(settings, ENABLE_SSE_TODAY=False):
        direct, fast, reached_django = both("GET", "/api/visitors/today/stream")
    assert (direct.status, fast.status, reached_django) == (404, 404, 1)


def test_plain_http_is_redirected_by_django_when_https_is_required(stored, settings):
    settings.SECURE_SSL_REDIRECT = True
    django_app = get_asgi_application()  # SecurityMiddleware reads it at start-up
    direct, fast, reached_django = both("GET", "/api/visitors/weekly", app=django_app)
    assert (direct.status, fast.status, reached_django) == (301, 301, 1)
    assert fast.headers["location"] == "https://127.0.0.1/api/visitors/weekly"
    direct, fast, reached_django = both("GET", "/api/visitors/weekly", app=django_app,
                                        scheme="https")  # fmt: skip
    assert (fast.status, reached_django) == (200, 0)
    assert_same(direct, fast, "https")


def test_yesterdays_count_in_the_cache_is_left_to_django(stored):
    # The stored count is the 18th's (7); at midnight it is yesterday's and must not be shown.
    with time_machine.travel(datetime(2026, 11, 19, 0, 1, tzinfo=JAKARTA), tick=False):
        counting = CountingDjango()
        answer = call(Edge(counting), "GET", "/api/visitors/today")
    assert counting.calls == 1
    assert answer.status == 200
    assert (json.loads(answer.body)["date"], json.loads(answer.body)["total"]) == ("2026-11-19", 0)


def test_other_connections_are_left_to_django(stored):
    seen = []

    async def django_app(scope, receive, send):
        seen.append((scope["type"], receive, send))

    async def receive():
        return {}

    async def send(message):
        pass

    edge = Edge(django_app)
    for kind in ("websocket", "lifespan"):
        async_to_sync(edge)({"type": kind, "path": "/api/visitors/today"}, receive, send)
    assert seen == [("websocket", receive, send), ("lifespan", receive, send)]


def test_a_request_without_a_query_string_is_answered(stored):
    # ASGI lets a server leave query_string out (it defaults to empty).
    for path in ("/api/visitors/weekly", "/api/visitors/today"):
        counting = CountingDjango()
        request = scope("GET", path)
        del request["query_string"]
        answer = async_to_sync(_call)(Edge(counting), request)
        assert (answer.status, counting.calls) == (200, 0), path


def test_snapshot_answers_are_counted_by_metric_and_outcome(stored):
    def answered(outcome):
        labels = {"metric": "weekly", "outcome": outcome}
        return REGISTRY.get_sample_value("libdash_snapshot_answers_total", labels) or 0

    etag = call(django_application, "GET", "/api/visitors/weekly").headers["etag"]
    before = answered("hit"), answered("not_modified")
    edge = Edge(CountingDjango())
    assert call(edge, "GET", "/api/visitors/weekly").status == 200
    assert call(edge, "GET", "/api/visitors/weekly", {"If-None-Match": etag}).status == 304
    assert call(edge, "GET", "/api/visitors/weekly", {"If-None-Match": etag}).status == 304
    assert (answered("hit"), answered("not_modified")) == (before[0] + 1, before[1] + 2)


def test_a_snapshot_without_its_etag_is_left_to_django(stored, settings):
    # A record missing one of its fields (written by another version, or half-deleted by hand):
    # the edge never answers from part of it.
    redis = base_redis.client()
    _, etag_field = store.fields(settings.MEMBER_DETAILS)
    for field in (etag_field, "last_modified"):
        call_command("prewarm", stdout=StringIO())
        redis.hdel(keys.snapshot("weekly"), field)
        direct, fast, reached_django = both("GET", "/api/visitors/weekly")
        assert reached_django == 1, field
        assert_same(direct, fast, field)


def test_fast_answers_are_timed_under_djangos_route_names(stored):
    def sample(suffix, route, method):
        labels = {"route": route, "method": method}
        return REGISTRY.get_sample_value(f"libdash_request_duration_seconds_{suffix}", labels) or 0

    def observed(route, method):
        return sample("count", route, method)

    def seconds(route, method):
        return sample("sum", route, method)

    for path, method in (("/api/visitors/weekly", "GET"), ("/api/books/summary", "HEAD"),
                         ("/api/visitors/today", "GET")):  # fmt: skip
        route = path[1:]
        before, seconds_before = observed(route, method), seconds(route, method)
        _, _, reached_django = both(method, path)  # Django observes once, the edge once
        assert reached_django == 0
        assert observed(route, method) == before + 2, path
        assert 0 < seconds(route, method) - seconds_before < 5, "durations, not clock readings"
