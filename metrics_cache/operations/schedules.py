"""The beat schedule in django-celery-beat's database, so an admin can change it, and the
start-up prewarm.

VISITOR_SLOW_CRON / BOOKS_SLOW_CRON set a schedule when they change; an edit made in the
admin stands until the variable changes again. Saves go through Model.save(), which tells
beat to reload (a bulk QuerySet.update() would not).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from redis.exceptions import RedisError

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups, verify_rollups
from metrics_cache.snapshots.registry import GROUPS, METRICS
from metrics_cache.snapshots.tasks import prewarm, refresh_group
from metrics_cache.today import modes
from metrics_cache.today.tasks import reconcile_today, sync_today

logger = logging.getLogger(__name__)

SETTING_OF_GROUP = {"visitors": "VISITOR_SLOW_CRON", "books": "BOOKS_SLOW_CRON"}


def task_name(group: str) -> str:
    return f"snapshots: {group}"


def sync_schedules() -> None:
    jobs = [
        (task_name(group), SETTING_OF_GROUP[group], refresh_group.name, [group]) for group in GROUPS
    ]
    jobs.append((ROLLUPS_VERIFY, "ROLLUP_VERIFY_CRON", verify_rollups.name, []))
    for name, setting, task_path, args in jobs:
        cron = getattr(settings, setting)
        source = f"Schedule from {setting}={cron} (edits here stand until the variable changes)."
        task = PeriodicTask.objects.filter(name=name).first()
        if task is not None and task.description == source and task.task == task_path:
            continue
        minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=settings.LIBRARY_TIME_ZONE,
        )
        task = task or PeriodicTask(name=name)
        task.task = task_path
        task.args = json.dumps(args)
        task.crontab = schedule
        task.interval = None
        task.description = source
        task.enabled = True
        task.save()


FAST_LOOP = "today: fast loop"
RECONCILE = "today: exact recount"
ROLLUPS_FOLD = "rollups: fold new rows"
ROLLUPS_VERIFY = "rollups: verify"
LOOKUPS_COPY = "reports: copy lookup tables"
CIRCULATION = "reports: circulation"
# The names of rooms, types and locations, and members' types, change rarely: a change shows
# within this.
LOOKUPS_COPY_MS = 1_800_000
# Folding both tables every few minutes keeps the nightly run short and resumes a first build
# whose next step was lost (a worker restart).
ROLLUPS_FOLD_MS = 300_000


def _interval(milliseconds: int) -> IntervalSchedule:
    if milliseconds % 1000 == 0:
        every, period = milliseconds // 1000, IntervalSchedule.SECONDS
    else:
        every, period = milliseconds * 1000, IntervalSchedule.MICROSECONDS
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    return schedule


def sync_live_schedules() -> None:
    """The fast loop and the exact recount. Each tick expires after one interval, so a worker
    that was down does not come back to a queue of stale ticks (PeriodicTask.expire_seconds:
    beat stamps each message with it; PeriodicTask.expires would end the whole schedule)."""
    interval_ms = settings.VISITOR_SYNC_MIN_INTERVAL_MS
    reconcile_ms = settings.TODAY_RECONCILE_SECONDS * 1000
    for name, task, milliseconds, enabled in (
        (FAST_LOOP, sync_today.name, interval_ms, True),
        (RECONCILE, reconcile_today.name, reconcile_ms, modes.configured().reconciles),
        (ROLLUPS_FOLD, fold_rollups.name, ROLLUPS_FOLD_MS, True),
        (LOOKUPS_COPY, copy_report_lookups.name, LOOKUPS_COPY_MS, True),
        # Returns and renewals show in the circulation figures within one fold's interval.
        (CIRCULATION, refresh_circulation.name, ROLLUPS_FOLD_MS, True),
    ):  # fmt: skip
        periodic = PeriodicTask.objects.filter(name=name).first() or PeriodicTask(name=name)
        periodic.task = task
        periodic.interval = _interval(milliseconds)
        periodic.crontab = None
        periodic.expire_seconds = max(1, -(-milliseconds // 1000))
        periodic.enabled = enabled
        periodic.description = "Set from the environment at every beat start."
        periodic.save()


def sync_schedules_on_beat_start(sender=None, **kwargs) -> None:
    """beat_init (connected in MetricsCacheConfig.ready()): the whole schedule, from settings."""
    sync_schedules()
    sync_live_schedules()


def prewarm_on_start(sender=None, **kwargs) -> None:
    """worker_ready (connected in MetricsCacheConfig.ready()): the snapshots and the rollups
    once per deployment start, not once per worker process: the first worker queues them."""
    try:
        first = client().set(keys.prewarm_boot(), 1, nx=True, ex=keys.PREWARM_BOOT_WINDOW_SECONDS)
    except RedisError:
        logger.warning("start-up prewarm not queued: Redis unreachable; cache misses will warm")
        return
    if first:
        prewarm.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        logger.info("start-up prewarm queued for %d metrics", len(METRICS))
        fold_rollups.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        copy_report_lookups.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        refresh_circulation.apply_async(
            kwargs={"until_built": True}, expires=keys.PREWARM_BOOT_WINDOW_SECONDS
        )
