"""The demo's live check-ins in beat's schedule: enabled on the embedded demo library only."""

from __future__ import annotations

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from demo.live import INTERVAL_SECONDS

DEMO_CHECKINS = "demo: live check-ins"


def sync_demo_schedule() -> None:
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    task = PeriodicTask.objects.filter(name=DEMO_CHECKINS).first()
    if task is None and not settings.LIBRARY_IS_EMBEDDED:
        return  # a real library's schedule list stays free of the demo
    task = task or PeriodicTask(name=DEMO_CHECKINS)
    task.task = "demo.record_checkins"
    task.interval = schedule
    task.expire_seconds = INTERVAL_SECONDS
    task.enabled = settings.LIBRARY_IS_EMBEDDED
    task.description = "Visitors arriving at the embedded demo library (demo mode only)."
    task.save()


def sync_demo_schedule_on_beat_start(sender=None, **kwargs) -> None:
    sync_demo_schedule()
