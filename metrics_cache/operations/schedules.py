"""The beat schedule in django-celery-beat's database, so an admin can change it, and the
start-up prewarm.

VISITOR_SLOW_CRON / BOOKS_SLOW_CRON set a schedule when they change; an edit made in the
admin stands until the variable changes again. Saves go through Model.save(), which tells
beat to reload (a bulk QuerySet.update() would not).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from redis.exceptions import RedisError

from config.libraries import Library
from config.library import all_libraries, home, serving, time_zone
from config.library_tasks import LIBRARY_KWARG
from config.services import BUILD_QUEUE
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.operations import transit
from metrics_cache.operations.tasks import resend_lost_messages
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups, verify_rollups
from metrics_cache.snapshots.registry import GROUPS, METRICS
from metrics_cache.snapshots.tasks import prewarm, refresh_group
from metrics_cache.today import modes
from metrics_cache.today.groups import group_count
from metrics_cache.today.tasks import (
    reconcile_today,
    reconcile_today_group,
    sync_today,
    sync_today_group,
)

logger = logging.getLogger(__name__)

SETTING_OF_GROUP = {"visitors": "VISITOR_SLOW_CRON", "books": "BOOKS_SLOW_CRON"}


def task_name(group: str) -> str:
    return f"snapshots: {group}"


def of_library(name: str, library: Library) -> str:
    """A schedule's name: the home library's as it always was, another's with its slug."""
    return name if library == home() else f"{name} · {library.slug}"


def _library_kwargs(library: Library) -> str:
    """The home library's tasks run for it by default; another's name it."""
    return "{}" if library == home() else json.dumps({LIBRARY_KWARG: library.slug})


def sync_schedules() -> None:
    """Every library's daily jobs, at the configured local times of its own time zone."""
    for library in all_libraries():
        _sync_daily(library)


def _sync_daily(library: Library) -> None:
    jobs = [
        (task_name(group), SETTING_OF_GROUP[group], refresh_group.name, [group]) for group in GROUPS
    ]
    jobs.append((ROLLUPS_VERIFY, "ROLLUP_VERIFY_CRON", verify_rollups.name, []))
    zone = time_zone(library)
    kwargs = _library_kwargs(library)
    for name, setting, task_path, args in jobs:
        name = of_library(name, library)
        cron = getattr(settings, setting)
        source = f"Schedule from {setting}={cron} (edits here stand until the variable changes)."
        if library != home():
            source = f"{source[:-1]}, in {zone}."
        task = PeriodicTask.objects.filter(name=name).first()
        if (
            task is not None
            and task.description == source
            and task.task == task_path
            and task.kwargs == kwargs
        ):
            continue
        minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=zone,
        )
        task = task or PeriodicTask(name=name)
        task.task = task_path
        task.args = json.dumps(args)
        task.kwargs = kwargs
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
RESEND_LOST = "broker: messages lost on the way to a worker"
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
    """Every library's fast loop, exact recount, folds and copies, each library's runs spread
    over the interval rather than all at one instant. With several libraries the fast loop and
    the exact recount run by groups of libraries (today.groups), the groups spread likewise."""
    libraries = all_libraries()
    now = timezone.now()
    grouped = len(libraries) > 1
    for index, library in enumerate(libraries):
        with serving(library):
            _sync_live(library, now, index / len(libraries), grouped=grouped)
    if grouped:
        kept = _sync_groups(now, group_count(len(libraries)))
    else:
        kept = {of_library(name, lib) for name in (FAST_LOOP, RECONCILE) for lib in libraries}
    _save_interval(RESEND_LOST, resend_lost_messages.name, "{}", transit.SWEEP_SECONDS * 1000,
                   now, 0, enabled=True)  # fmt: skip
    # The fast loop's entries of another shape (one library's, another number of groups).
    for periodic in PeriodicTask.objects.filter(name__startswith="today: ").exclude(name__in=kept):
        periodic.delete()


def _sync_groups(now, groups: int) -> set[str]:
    """The groups' fast loop and exact recount; their names."""
    interval_ms = settings.VISITOR_SYNC_MIN_INTERVAL_MS
    reconcile_ms = settings.TODAY_RECONCILE_SECONDS * 1000
    names = set()
    for group in range(groups):
        kwargs = json.dumps({"group": group, "groups": groups})
        for name, task, milliseconds in (
            (FAST_LOOP, sync_today_group.name, interval_ms),
            (RECONCILE, reconcile_today_group.name, reconcile_ms),
        ):
            name = f"{name} · libraries {group + 1} of {groups}"
            _save_interval(name, task, kwargs, milliseconds, now, group / groups, enabled=True)
            names.add(name)
    return names


def _sync_live(library: Library, now, phase: float, *, grouped: bool) -> None:
    """A library's own interval jobs (the fast loop and the exact recount unless `grouped`)."""
    kwargs = _library_kwargs(library)
    jobs = [
        (ROLLUPS_FOLD, fold_rollups.name, ROLLUPS_FOLD_MS, True, phase),
        (LOOKUPS_COPY, copy_report_lookups.name, LOOKUPS_COPY_MS, True, phase),
        # Returns and renewals show in the circulation figures within one fold's interval; half
        # an interval after the fold, never beside it (a library's jobs run one at a time).
        (CIRCULATION, refresh_circulation.name, ROLLUPS_FOLD_MS, True, (phase + 0.5) % 1),
    ]
    if not grouped:
        reconcile_ms = settings.TODAY_RECONCILE_SECONDS * 1000
        jobs += [
            (FAST_LOOP, sync_today.name, settings.VISITOR_SYNC_MIN_INTERVAL_MS, True, phase),
            (RECONCILE, reconcile_today.name, reconcile_ms, modes.configured().reconciles, phase),
        ]
    for name, task, milliseconds, enabled, at in jobs:
        _save_interval(of_library(name, library), task, kwargs, milliseconds, now, at,
                       enabled=enabled)  # fmt: skip


def _save_interval(name, task, kwargs, milliseconds, now, phase: float, *, enabled) -> None:
    """An interval schedule. Each run expires after one interval, so a worker that was down
    does not come back to a queue of stale ticks (PeriodicTask.expire_seconds: beat stamps
    each message with it; PeriodicTask.expires would end the whole schedule). `phase` (0 to
    1) places the runs within each interval: beat runs an interval's task when that interval
    has passed since its last run."""
    periodic = PeriodicTask.objects.filter(name=name).first() or PeriodicTask(name=name)
    periodic.task = task
    periodic.kwargs = kwargs
    if phase:
        periodic.last_run_at = now - timedelta(milliseconds=milliseconds * (1 - phase))
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
    """worker_ready (connected in MetricsCacheConfig.ready()): every library's snapshots and
    rollups once per deployment start, not once per worker process: the first worker queues
    them."""
    for library in all_libraries():
        with serving(library):
            _prewarm_library()


def _prewarm_library() -> None:
    try:
        first = client().set(keys.prewarm_boot(), 1, nx=True, ex=keys.PREWARM_BOOT_WINDOW_SECONDS)
    except RedisError:
        logger.warning("start-up prewarm not queued: Redis unreachable; cache misses will warm")
        return
    if first:
        prewarm.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        logger.info("start-up prewarm queued for %d metrics", len(METRICS))
        # A first build's first step never expires: behind many libraries' start-up jobs it
        # would, and the library would wait for a beat fold that finds `celery` short enough.
        fold_rollups.apply_async(queue=BUILD_QUEUE)
        copy_report_lookups.apply_async(expires=keys.PREWARM_BOOT_WINDOW_SECONDS)
        refresh_circulation.apply_async(
            kwargs={"until_built": True}, expires=keys.PREWARM_BOOT_WINDOW_SECONDS
        )
