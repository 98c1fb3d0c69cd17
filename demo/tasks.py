"""Celery task of the demo library: its live check-ins, in demo mode only."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from demo.live import INTERVAL_SECONDS, record_arrivals
from demo.writer import library_writer


@shared_task(
    name="demo.record_checkins",
    soft_time_limit=INTERVAL_SECONDS,
    time_limit=INTERVAL_SECONDS + 5,
    ignore_result=True,
)
def record_checkins() -> int:
    """Visitors arriving at the embedded demo library; never touches a configured library."""
    if not settings.LIBRARY_IS_EMBEDDED:
        return 0
    with library_writer() as writer:
        return record_arrivals(writer, now=timezone.localtime().replace(tzinfo=None))
