"""The fast loop: one tick at a time under its lock, an exact recount beside it, back-off after
database errors, and the status /health reports."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connections
from django.utils import timezone

from config.library import current
from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.today import modes
from metrics_cache.today.counting import Count
from metrics_cache.today.lock import LoopBusy, loop_lock
from metrics_cache.today.publishing import publish, published

logger = logging.getLogger(__name__)


def tick() -> str:
    """Runs one tick unless another is running, the buffer is not over, or the database is in
    backoff after errors. Returns what happened; never raises for a database error."""
    if client().exists(keys.today_cooldown(), keys.today_backoff()):
        return "waiting"
    with run_once(keys.today_lock(), timeout=keys.TODAY_LOCK_SECONDS) as running:
        if not running:
            return "busy"
        mode = modes.configured()
        return _run(mode, mode.tick)


def reconcile_tick(wait_seconds: float = keys.TODAY_LOCK_WAIT_SECONDS) -> str:
    """The exact recount, unless the mode has none or the database is in backoff; it waits
    this long for a tick holding the loop's lock."""
    mode = modes.configured()
    if not mode.reconciles or client().exists(keys.today_backoff()):
        return "skipped"
    try:
        with loop_lock(wait_seconds):
            return _run(mode, mode.reconcile, exact=True)
    except LoopBusy:
        return "busy"


def recount(today) -> tuple[dict | None, Count]:
    """manage.py recount_today: (what was published, the exact count), under the loop's lock
    so no tick or reconcile interleaves, then published as an exact figure (it may lower)."""
    mode = modes.configured()
    with loop_lock():
        old = published()
        result = mode.reconcile(today)
        publish(result.total, today, counter=mode.counter_key(today), force=True, exact=True)
    return old, result


# Ticks published as exact would be equivalent: under the loop's lock no tick counts less than
# the figure published for its day (deltas only rise between recounts; incremental reads the
# kiosks' counter in the publishing script), so the lowering guard is never reached by a tick.
def _run(mode: modes.Mode, count, *, exact: bool = False) -> str:  # pragma: no mutate
    redis = client()
    today = timezone.localdate()
    started = time.perf_counter()
    try:
        result = count(today)
    except Exception as exc:  # the database is down or refusing: back off, never crash
        _on_error(redis, exc)
        return "error"
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    publish(result.total, today, counter=mode.counter_key(today),
            exact=exact or mode.exact_ticks)  # fmt: skip
    status = {
        "last_run_at": timezone.now().isoformat(),
        "last_success_at": timezone.now().isoformat(),
        "last_duration_ms": duration_ms,
        "baseline_id": "" if result.baseline_id is None else result.baseline_id,
        "baseline_count": "" if result.baseline_count is None else result.baseline_count,
        # What a tick that finds nothing new needs to know (counting.unchanged).
        "folded_to": "" if result.folded_to is None else result.folded_to,
        "error": "",
        "failures": 0,
    }
    # One round trip: the error before the status replaces it, then the buffer.
    pipe = redis.pipeline(transaction=False)  # pragma: no mutate (MULTI or not: same replies)
    pipe.hget(keys.today_loop_status(), "error")
    pipe.hset(keys.today_loop_status(), mapping=status)
    if settings.VISITOR_SYNC_BUFFER_MS:
        pipe.set(
            keys.today_cooldown(),
            1,  # pragma: no mutate (only the key's existence is read)
            px=settings.VISITOR_SYNC_BUFFER_MS,
        )
    previous_error = pipe.execute()[0]
    if previous_error:
        logger.warning("fast loop recovered: today=%d", result.total)
    return "ok"


def _on_error(redis, exc: Exception) -> None:
    connections[current().alias].close()  # a broken connection is not reused on the next tick
    error = f"{type(exc).__name__}: {exc}"[:300]
    status_key = keys.today_loop_status()
    failures = redis.hincrby(status_key, "failures", 1)  # pragma: no mutate (1: the default)
    previous = redis.hget(status_key, "error")
    redis.hset(status_key, mapping={"error": error, "last_run_at": timezone.now().isoformat()})
    if not previous or previous.decode() != error:
        logger.warning("fast loop failing, backing off: %s", error)  # once per state change
    backoff = min(
        keys.TODAY_BACKOFF_MAX_SECONDS, keys.TODAY_BACKOFF_FIRST_SECONDS * 2 ** (failures - 1)
    )
    redis.set(
        keys.today_backoff(),
        1,  # pragma: no mutate (only the key's existence is read)
        ex=int(backoff),
    )


def loop_status() -> dict:
    raw = {k.decode(): v.decode() for k, v in client().hgetall(keys.today_loop_status()).items()}
    baseline = None
    if raw.get("baseline_id") or raw.get("baseline_count"):
        baseline = {
            "id": int(raw["baseline_id"]) if raw.get("baseline_id") else None,
            "count": int(raw["baseline_count"]) if raw.get("baseline_count") else None,
        }
    return {
        "mode": modes.configured().name,
        "last_run_at": raw.get("last_run_at"),
        "last_success_at": raw.get("last_success_at"),
        "last_duration_ms": float(raw["last_duration_ms"]) if raw.get("last_duration_ms") else None,
        "baseline": baseline,
        "error": raw.get("error") or None,
    }
