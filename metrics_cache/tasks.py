"""Celery tasks: thin wrappers over metrics_cache.snapshots, taking names, never objects."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from celery.signals import worker_ready
from django_redis import get_redis_connection
from redis.exceptions import LockError, RedisError

from metrics_cache import folding, keys, snapshots, today
from metrics_cache.registry import BY_NAME, GROUPS, METRICS, in_group

logger = logging.getLogger(__name__)

TASK_LIMITS = {
    "soft_time_limit": keys.GROUP_RUN_TIME_LIMIT_SECONDS - 60,
    "time_limit": keys.GROUP_RUN_TIME_LIMIT_SECONDS,
    "ignore_result": True,
}


@shared_task(name="metrics_cache.refresh_group", **TASK_LIMITS)
def refresh_group(group: str, force: bool = True) -> None:
    """The daily job of one group (visitors or books). A run never overlaps itself."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    lock = get_redis_connection("default").lock(
        keys.group_lock(group), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS, blocking=False
    )
    if not lock.acquire():
        logger.info("snapshot group=%s skipped: a run of this group is still going", group)
        return
    try:
        snapshots.refresh([metric.name for metric in in_group(group)], force=force)
    finally:
        # LockError: it expired under a run longer than the time limit; nothing to release.
        with contextlib.suppress(LockError):
            lock.release()


@shared_task(name="metrics_cache.refresh_metric", **TASK_LIMITS)
def refresh_metric(metric: str, force: bool = False) -> None:
    """One metric, queued by a cache miss (restores from its record when it can) or the admin."""
    if metric not in BY_NAME:
        raise ValueError(f"unknown metric {metric!r}")
    snapshots.refresh([metric], force=force)


@shared_task(name="metrics_cache.prewarm", **TASK_LIMITS)
def prewarm() -> None:
    """At start-up: fill what is missing, without recomputing what is already today's."""
    for group in GROUPS:
        refresh_group(group, force=False)


def queue_refresh(metric: str) -> bool:
    """Queues a refresh of `metric` at most once per warming window; True if queued now."""
    client = get_redis_connection("default")
    try:
        if not client.set(keys.warming(metric), 1, nx=True, ex=keys.WARMING_WINDOW_SECONDS):
            return False
    except RedisError:
        return False  # the broker lives on Redis too: the next miss after it is back queues
    try:
        refresh_metric.apply_async(args=[metric], expires=keys.WARMING_WINDOW_SECONDS, retry=False)
    except Exception:  # broker down: let the next miss try again
        with contextlib.suppress(RedisError):
            client.delete(keys.warming(metric))
        logger.warning("could not queue a refresh of %s: broker unreachable", metric)
        return False
    return True


@worker_ready.connect
def prewarm_on_start(sender=None, **kwargs) -> None:
    """Once per deployment start, not once per worker process: the first worker queues it."""
    try:
        first = get_redis_connection("default").set(
            keys.prewarm_boot(), 1, nx=True, ex=keys.PREWARM_BOOT_WINDOW_SECONDS
        )
    except RedisError:
        logger.warning("start-up prewarm not queued: Redis unreachable; cache misses will warm")
        return
    if first:
        prewarm.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        logger.info("start-up prewarm queued for %d metrics", len(METRICS))
        fold_rollups.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)


@shared_task(name="metrics_cache.fold_rollups", **TASK_LIMITS)
def fold_rollups() -> str:
    """One step of the rollups' first build (or of folding new rows); queues the next step
    while the build is not over. Beat also runs it every few minutes, so a lost message or a
    restart mid-build only delays it."""
    lock = get_redis_connection("default").lock(
        keys.rollup_lock(), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS, blocking=False
    )
    if not lock.acquire():
        return "busy"
    try:
        built = folding.build_step()
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    if not built:
        fold_rollups.apply_async(countdown=keys.ROLLUP_BUILD_STEP_PAUSE_SECONDS)
        return "building"
    return "built"


@shared_task(
    name="metrics_cache.verify_rollups",
    ignore_result=True,
    # A whole-table recomputation in gentle chunks: hours on the largest libraries, off-hours.
    soft_time_limit=keys.ROLLUP_VERIFY_TIME_LIMIT_SECONDS - 60,
    time_limit=keys.ROLLUP_VERIFY_TIME_LIMIT_SECONDS,
)
def verify_rollups() -> None:
    """The weekly drift check: each source recomputed side by side and swapped in."""
    for source in folding.SOURCES:
        try:
            folding.verify(source)
        except RuntimeError as exc:
            logger.warning("rollup verification source=%s skipped: %s", source, exc)


TICK_LIMITS = {
    "ignore_result": True,
    "soft_time_limit": keys.TODAY_LOCK_SECONDS - 3,
    "time_limit": keys.TODAY_LOCK_SECONDS,
}


@shared_task(name="metrics_cache.sync_today", **TICK_LIMITS)
def sync_today() -> str:
    """One tick of the fast loop. Beat gives each tick an expiry of one interval, so ticks
    queued while the worker was down are discarded rather than run in a storm."""
    return today.tick()


@shared_task(name="metrics_cache.reconcile_today", **TICK_LIMITS)
def reconcile_today() -> str:
    """The exact recount of delta and incremental modes, apart from the ticks."""
    return today.reconcile_tick()
