"""Today's count for a request: the published figure, else one count in the database shared by
every concurrent request (single flight)."""

from __future__ import annotations

import time

from django.db import DatabaseError
from django.utils import timezone
from redis.exceptions import RedisError

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today import modes
from metrics_cache.today.counting import count_without_folding
from metrics_cache.today.publishing import publish, published

# How often a request waiting for another's count looks for it.
POLL_SECONDS = 0.05


def _count_in_database() -> dict:
    day = timezone.localdate()
    total = count_without_folding(day)
    generated_at = timezone.localtime().isoformat(timespec="milliseconds")
    return {"total": total, "date": day.isoformat(), "generated_at": generated_at}


def current_today() -> tuple[dict | None, str]:
    """(count, source): the cache first; on a miss one database count shared by every
    concurrent request (single flight); (None, "unavailable") when neither answers."""
    try:
        cached = published()
    except RedisError:
        try:
            return _count_in_database(), "db"
        except DatabaseError:
            return None, "unavailable"
    if cached is not None:
        return cached, "cache"
    redis = client()
    # Held at most twice the waiters' wait: a request that dies counting frees it then.
    if redis.set(
        keys.today_flight(),
        1,  # pragma: no mutate (the value is never read)
        nx=True,
        ex=keys.TODAY_SINGLE_FLIGHT_WAIT_SECONDS * 2,
    ):
        try:
            value = _count_in_database()
        except DatabaseError:
            return None, "unavailable"
        finally:
            redis.delete(keys.today_flight())
        day = timezone.localdate()
        counter = modes.configured().counter_key(day)
        publish(value["total"], day, counter=counter, ttl=keys.TODAY_FALLBACK_TTL_SECONDS)
        return value, "db"
    deadline = time.monotonic() + keys.TODAY_SINGLE_FLIGHT_WAIT_SECONDS
    # `<=` waits one more poll at most, within the same bound.
    while time.monotonic() < deadline:  # pragma: no mutate
        time.sleep(POLL_SECONDS)
        shared = published()
        if shared is not None:
            return shared, "db"
    return None, "unavailable"
