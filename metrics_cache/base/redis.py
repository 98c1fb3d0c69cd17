"""The one Redis client getter and the locks built on it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.asyncio.sentinel as aioredis_sentinel
from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import LockError, RedisError

# A long run's lock is a lease of this long, renewed while its holder lives: a worker killed
# mid-run (or its host gone) frees it within this, and another worker takes the job over.
LEASE_SECONDS = 30
# A holder waiting for a lock looks again this often.
WAIT_POLL_SECONDS = 0.05


def client():
    """The cache's Redis client (django-redis's pooled connection for CACHES["default"])."""
    return get_redis_connection("default")


def async_client(*, blocking_pool: int | None = None, **options) -> aioredis.Redis:
    """An asyncio client of the cache's Redis: REDIS_URL's server, or the primary Sentinel
    names (asked again after a failover). `blocking_pool`: at most that many connections,
    a burst waiting its turn (on REDIS_URL's server; Sentinel's pool is not bounded)."""
    if settings.REDIS_SENTINELS:
        sentinel = aioredis_sentinel.Sentinel(
            settings.REDIS_SENTINELS,
            sentinel_kwargs={"socket_timeout": options.get("socket_connect_timeout", 2)},
        )
        number = urlsplit(settings.REDIS_URL).path.strip("/") or "0"
        return sentinel.master_for(settings.REDIS_SENTINEL_MASTER, db=int(number), **options)
    if blocking_pool is None:
        return aioredis.Redis.from_url(settings.REDIS_URL, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL, max_connections=blocking_pool, **options
    )
    return aioredis.Redis(connection_pool=pool)


class LockTaken(RuntimeError):
    """A lock stayed taken longer than the caller would wait."""


@contextlib.contextmanager
def run_once(key: str, *, timeout: float, wait_seconds: float = 0) -> Iterator[bool]:
    """Yields True while holding `key`, False if another holder has it (at once, or after
    waiting up to `wait_seconds` for it to let go). The lock is held for at most `timeout`
    seconds, as a lease of LEASE_SECONDS renewed meanwhile: a holder that died frees it within
    the lease; one that expired under a long run has nothing to release."""
    lease = min(timeout, LEASE_SECONDS)
    # The renewing thread extends the lock: its token is not thread-local.
    lock = client().lock(key, timeout=lease, sleep=WAIT_POLL_SECONDS, thread_local=False)
    if not lock.acquire(blocking=wait_seconds > 0, blocking_timeout=wait_seconds):
        yield False
        return
    stop = threading.Event()
    renewer = None
    if timeout > lease:
        renewer = threading.Thread(
            target=_renew, args=(lock, lease, timeout, stop), daemon=True, name=f"lease {key}"
        )
        renewer.start()
    try:
        yield True
    finally:
        stop.set()
        if renewer is not None:
            renewer.join()
        with contextlib.suppress(LockError):
            lock.release()


def _renew(lock, lease: float, timeout: float, stop: threading.Event) -> None:
    """Extends the lease every third of it, until released or `timeout` after taking it."""
    deadline = time.monotonic() + timeout - lease
    while not stop.wait(lease / 3) and time.monotonic() < deadline:
        with contextlib.suppress(LockError, RedisError):
            lock.extend(lease, replace_ttl=True)


@contextlib.contextmanager
def held(
    key: str, *, timeout: float, wait_seconds: float, busy: type[LockTaken] = LockTaken
) -> Iterator[None]:
    """Holds `key`, waiting up to `wait_seconds` for it; raises `busy` if it stays taken."""
    lock = client().lock(key, timeout=timeout, blocking=True, blocking_timeout=wait_seconds)
    if not lock.acquire():
        raise busy(f"{key} is taken")
    try:
        yield
    finally:
        lock.release()
