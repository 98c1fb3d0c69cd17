"""The one Redis client getter and the locks built on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django_redis import get_redis_connection
from redis.exceptions import LockError


def client():
    """The cache's Redis client (django-redis's pooled connection for CACHES["default"])."""
    return get_redis_connection("default")


class LockTaken(RuntimeError):
    """A lock stayed taken longer than the caller would wait."""


@contextlib.contextmanager
def run_once(key: str, *, timeout: float) -> Iterator[bool]:
    """Yields True while holding `key`, False at once if another holder has it. The lock
    expires after `timeout` seconds (a holder that died frees it then); one that expired
    under a long run has nothing to release."""
    lock = client().lock(key, timeout=timeout, blocking=False)
    if not lock.acquire():
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(LockError):
            lock.release()


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
