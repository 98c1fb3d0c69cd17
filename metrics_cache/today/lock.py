"""The fast loop's lock: ticks, recounts and kiosks rebuilding a counter never interleave."""

from __future__ import annotations

from contextlib import contextmanager

from metrics_cache.base import keys
from metrics_cache.base.redis import LockTaken, held


class LoopBusy(LockTaken):
    """The fast loop's lock stayed taken longer than a caller would wait."""


@contextmanager
def loop_lock(wait_seconds: float = keys.TODAY_LOCK_WAIT_SECONDS):
    """The fast loop's lock, waited for (a tick takes it without waiting: loop.tick)."""
    with held(keys.today_lock(), timeout=keys.TODAY_LOCK_SECONDS, wait_seconds=wait_seconds,
              busy=LoopBusy):  # fmt: skip
        yield
