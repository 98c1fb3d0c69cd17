"""Requests per client address: one counter with an expiry per window (INCR + EXPIRE), sent in
the same Redis round trip as the cached read it guards (serving.edge). O(1) per request
whatever the rate, where DRF's throttle stores and re-pickles every request's timestamp."""

from __future__ import annotations

import functools
import json
import math
import time

from django.conf import settings

from metrics_cache.base import keys
from metrics_cache.network import states

PERIOD_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                  "h": 3600, "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip


@functools.lru_cache(maxsize=8)
def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200 requests, 60 seconds)."""
    number, _, period = rate.partition("/")
    return int(number), PERIOD_SECONDS[period]


def window(now: float | None = None) -> tuple[str, int, int, float]:
    """(counter key part, limit, window seconds, seconds left) for the current fixed window."""
    limit, seconds = parse_rate(settings.THROTTLE_ANON_RATE)
    now = time.time() if now is None else now
    # int(now / seconds) floors alike but within an ulp of a window's bound.
    index = int(now // seconds)  # pragma: no mutate
    return str(index), limit, seconds, (index + 1) * seconds - now


# One command, so one round trip and one reply to parse: count the request (the counter
# expires with its window), then read what the request asks for, if anything.
COUNT_AND_READ = f"""
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if ARGV[2] == 'hmget' then
  return {{count, redis.call('HMGET', KEYS[2], ARGV[3], ARGV[4], ARGV[5])}}
elseif ARGV[2] == 'get' then
  return {{count, redis.call('GET', KEYS[2])}}
elseif ARGV[2] == 'listing' then
  {states.read_lua(2)}
  return {{count, found}}
end
return {{count}}
"""


def counter(address: str) -> tuple[str, int, int, float]:
    """(counter key, limit, key lifetime in seconds, seconds left in the window)."""
    index, limit, seconds, left = window()
    return keys.throttle(address, int(index)), limit, seconds + 1, left


def too_many(retry_after_seconds: float) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The 429 answer: JSON, like every error, and when to come back."""
    wait = max(1, math.ceil(retry_after_seconds))
    body = json.dumps(
        {"status": "throttled", "message": "too many requests", "retry_after_seconds": wait}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    return headers, body
