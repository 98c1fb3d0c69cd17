"""The fast loop's Celery tasks (names kept: beat stores its schedules by name)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from metrics_cache.base import keys
from metrics_cache.today import loop
from metrics_cache.today.groups import run as run_group

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


@shared_task(name="metrics_cache.sync_today_group", **TICK_LIMITS)
def sync_today_group(group: int, groups: int) -> dict:
    """One tick of each library of a group (today.groups), one after another."""
    expires = settings.VISITOR_SYNC_MIN_INTERVAL_MS / 1000
    return run_group(sync_today, loop.tick, group, groups, expires, probing=True)


@shared_task(name="metrics_cache.reconcile_today_group", **TICK_LIMITS)
def reconcile_today_group(group: int, groups: int) -> dict:
    """The exact recount of each library of a group; one whose loop is busy waits for its next."""

    def recount() -> str:
        return loop.reconcile_tick(wait_seconds=0)

    return run_group(reconcile_today, recount, group, groups, settings.TODAY_RECONCILE_SECONDS)
