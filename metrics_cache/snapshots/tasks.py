"""The snapshots' Celery tasks: thin wrappers over snapshots.refresh, taking names, never
objects (names kept: beat stores its schedules by name)."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from redis.exceptions import RedisError

from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.operations.breaker import unless_unreachable
from metrics_cache.snapshots import refresh
from metrics_cache.snapshots.registry import BY_NAME, GROUPS, in_group

logger = logging.getLogger(__name__)

TASK_LIMITS = {
    "soft_time_limit": keys.GROUP_RUN_TIME_LIMIT_SECONDS - 60,
    "time_limit": keys.GROUP_RUN_TIME_LIMIT_SECONDS,
    "ignore_result": True,
}


@shared_task(name="metrics_cache.refresh_group", **TASK_LIMITS)
@unless_unreachable
def refresh_group(group: str, force: bool = True) -> None:
    """The daily job of one group (visitors or books). A run never overlaps itself."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    with run_once(keys.group_lock(group), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS) as running:
        if not running:
            logger.info("snapshot group=%s skipped: a run of this group is still going", group)
            return
        refresh.refresh([metric.name for metric in in_group(group)], force=force)


@shared_task(name="metrics_cache.refresh_metric", **TASK_LIMITS)
@unless_unreachable
def refresh_metric(metric: str, force: bool = False) -> None:
    """One metric, queued by a cache miss (restores from its record when it can) or the admin."""
    if metric not in BY_NAME:
        raise ValueError(f"unknown metric {metric!r}")
    refresh.refresh([metric], force=force)


@shared_task(name="metrics_cache.prewarm", **TASK_LIMITS)
def prewarm() -> None:
    """At start-up: fill what is missing, without recomputing what is already today's."""
    for group in GROUPS:
        refresh_group(group, force=False)


def queue_refresh(metric: str) -> bool:
    """Queues a refresh of `metric` at most once per warming window; True if queued now."""
    redis = client()
    try:
        if not redis.set(keys.warming(metric), 1, nx=True, ex=keys.WARMING_WINDOW_SECONDS):
            return False
    except RedisError:
        return False  # the broker lives on Redis too: the next miss after it is back queues
    try:
        refresh_metric.apply_async(args=[metric], expires=keys.WARMING_WINDOW_SECONDS, retry=False)
    except Exception:  # broker down: let the next miss try again
        with contextlib.suppress(RedisError):
            redis.delete(keys.warming(metric))
        logger.warning("could not queue a refresh of %s: broker unreachable", metric)
        return False
    return True
