"""Throttling in front of Django: every URL, one counter per client address, 429 with JSON and
Retry-After; X-Forwarded-For and X-Forwarded-Proto believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import time_machine
from django_redis import get_redis_connection

from config.asgi import application
from metrics_cache.base import keys
from metrics_cache.serving import clients, throttling
from tests.support.asgi import call, scope

pytestmark = pytest.mark.django_db


def at(moment: str) -> time_machine.travel:
    """The clock stopped at a UTC time of day on 27 November 2026."""
    return time_machine.travel(datetime.fromisoformat(f"2026-11-27T{moment}+00:00"), tick=False)


def requests(count: int, address: str) -> list:
    return [call(application, "GET", "/health", client=address) for _ in range(count)]


PUBLIC_URLS = ["/health", "/metrics", "/", "/api/visitors/weekly", "/api/visitors/today/stream",
               "/api/visitors/summary", "/docs", "/no/such/path"]  # fmt: skip


def test_every_public_url_is_throttled_with_a_json_429(settings):
    settings.THROTTLE_ANON_RATE = "3/min"
    for index, path in enumerate(PUBLIC_URLS):
        address = f"198.51.100.{index + 1}"
        method = "POST" if path == "/api/visitors/today/stream" else "GET"  # no stream opened
        # Each burst within one window (a new minute between the 3rd and 4th would start over).
        with at(f"10:{index:02d}:30"):
            statuses = [call(application, method, path, client=address).status for _ in range(4)]
            limited = call(application, "GET", path, client=address)
        assert 429 not in statuses[:3], path
        assert statuses[3] == 429, path
        assert int(limited.headers["retry-after"]) == 30
        assert limited.headers["content-type"] == "application/json"
        assert json.loads(limited.body)["status"] == "throttled"


def test_each_address_has_its_own_budget_and_one_counter(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    for _ in range(2):
        assert call(application, "GET", "/health", client="203.0.113.1").status != 429
    assert call(application, "GET", "/health", client="203.0.113.1").status == 429
    assert call(application, "GET", "/health", client="203.0.113.2").status != 429
    # O(1): one integer per address and window, whatever the number of requests.
    counters = get_redis_connection("default").keys(f"{keys.prefix()}:throttle:*")
    assert len(counters) == 2


def test_spoofed_forwarded_for_is_ignored_from_untrusted_peers(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    statuses = [
        call(application, "GET", "/health", {"X-Forwarded-For": f"192.0.2.{n}"},
             client="203.0.113.9").status
        for n in range(3)
    ]  # fmt: skip
    assert statuses[2] == 429, "a client cannot pick a new address per request"


def test_trusted_proxies_forward_the_client_address_and_scheme(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    behind = scope("GET", "/", {"X-Forwarded-For": "192.0.2.1, 198.51.100.7, 10.1.2.3",
                                "X-Forwarded-Proto": "https"}, client="127.0.0.1")  # fmt: skip
    resolved = clients.resolve(behind)
    # The rightmost address no trusted proxy added: 198.51.100.7 (192.0.2.1 is the client's
    # own claim, passed along by the proxy).
    assert clients.address(resolved) == "198.51.100.7"
    assert resolved["scheme"] == "https"
    direct = scope("GET", "/", {"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"},
                   client="198.51.100.20")  # fmt: skip
    assert clients.address(clients.resolve(direct)) == "198.51.100.20"
    assert clients.resolve(direct)["scheme"] == "http"


def test_throttled_behind_a_trusted_proxy_by_client_address(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    for client_address in ("192.0.2.1", "192.0.2.2"):
        codes = [
            call(application, "GET", "/health", {"X-Forwarded-For": client_address}).status
            for _ in range(3)
        ]
        assert codes[2] == 429 and 429 not in codes[:2], client_address


def test_a_redis_outage_lets_requests_through(settings):
    settings.THROTTLE_ANON_RATE = "1/min"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": settings.REDIS_URL}}
    from django.core.cache import caches

    caches.close_all()
    assert [call(application, "GET", "/health").status for _ in range(3)] == [503] * 3


def test_a_throttled_client_is_told_exactly_when_its_budget_returns(settings):
    """The 429 answer: the error envelope, Retry-After and retry_after_seconds both the seconds
    left in the minute, and headers no cache or browser misreads."""
    settings.THROTTLE_ANON_RATE = "2/min"
    with at("10:00:45"):
        *allowed, limited = requests(3, "198.51.100.60")
    assert 429 not in [answer.status for answer in allowed]
    assert limited.status == 429
    assert json.loads(limited.body) == {
        "status": "throttled",
        "message": "too many requests",
        "retry_after_seconds": 15,
    }
    assert limited.headers["retry-after"] == "15"
    assert limited.headers["content-length"] == str(len(limited.body))
    assert limited.headers["content-type"] == "application/json"
    assert limited.headers["cache-control"] == "no-store"  # never a cached 429 for everyone
    assert limited.headers["x-content-type-options"] == "nosniff"


def test_the_budget_returns_when_the_window_ends_and_not_before(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    with at("10:00:59.500"):
        statuses = [answer.status for answer in requests(3, "198.51.100.61")]
        last_moment = requests(1, "198.51.100.61")[0]
    assert statuses[2] == 429 and last_moment.status == 429
    # Half a second left: come back in 1 s (whole seconds, rounded up, never 0).
    assert last_moment.headers["retry-after"] == "1"
    assert json.loads(last_moment.body)["retry_after_seconds"] == 1
    with at("10:01:00"):
        assert 429 not in [answer.status for answer in requests(2, "198.51.100.61")]


def test_a_counter_lives_at_least_as_long_as_its_window(settings):
    """A counter that expired before its window ended would hand out a second budget inside
    the same window."""
    settings.THROTTLE_ANON_RATE = "2/min"
    redis = get_redis_connection("default")
    seconds, microseconds = redis.execute_command("TIME")  # Redis's own clock, not the test's
    before_ms = int(seconds) * 1000 + int(microseconds) // 1000
    with at("10:02:00"):  # the first request of a window: 60 s of it left
        requests(1, "198.51.100.62")
    seconds, microseconds = redis.execute_command("TIME")
    after_ms = int(seconds) * 1000 + int(microseconds) // 1000
    (counter,) = redis.keys(f"{keys.prefix()}:throttle:198.51.100.62:*")
    expires_ms = redis.execute_command("PEXPIRETIME", counter)
    assert expires_ms - before_ms >= 60_000
    # ...and not much longer: one second past its window, then Redis forgets it.
    assert expires_ms - after_ms <= 61_000


def test_the_window_is_the_one_of_the_moment_given(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    assert throttling.window(now=120.5) == ("2", 2, 60, 59.5)
    assert throttling.window(now=179.0) == ("2", 2, 60, 1.0)


def test_the_429_s_header_names_are_lower_case_as_asgi_requires():
    headers, body = throttling.too_many(2.2)
    assert [name for name, _ in headers] == [
        b"content-type", b"content-length", b"retry-after", b"cache-control",
        b"x-content-type-options",
    ]  # fmt: skip
    assert dict(headers)[b"retry-after"] == b"3" and json.loads(body)["retry_after_seconds"] == 3
