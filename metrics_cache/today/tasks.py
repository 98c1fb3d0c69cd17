"""The fast loop's Celery tasks (names kept: beat stores its schedules by name)."""

from __future__ import annotations

from celery import shared_task

from metrics_cache.base import keys
from metrics_cache.today import loop

TICK_LIMITS = {
    "ignore_result": True,
    "soft_time_limit": keys.TODAY_LOCK_SECONDS - 3,
    "time_limit": keys.TODAY_LOCK_SECONDS,
}


@shared_task(name="metrics_cache.sync_today", **TICK_LIMITS)
def sync_today() -> str:
    """One tick of the fast loop. Beat gives each tick an expiry of one interval, so ticks
    queued while the worker was down are discarded rather than run in a storm."""
    return loop.tick()


@shared_task(name="metrics_cache.reconcile_today", **TICK_LIMITS)
def reconcile_today() -> str:
    """The exact recount of delta and incremental modes, apart from the ticks."""
    return loop.reconcile_tick()
