"""Celery task of the demo library: its live check-ins, in demo mode only."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from config.library import all_libraries, serving
from demo.live import INTERVAL_SECONDS, record_arrivals
from demo.writer import library_writer

# The demo network's branches open this many hours after the one before (cycling).
BRANCH_HOURS = (0, 1, 2)


@shared_task(
    name="demo.record_checkins",
    soft_time_limit=INTERVAL_SECONDS,
    time_limit=INTERVAL_SECONDS + 5,
    ignore_result=True,
)
def record_checkins() -> int:
    """Visitors arriving at the embedded demo library (each library of the demo network, in
    its own time zone and hours); never touches a configured library."""
    if not settings.LIBRARY_IS_EMBEDDED:
        return 0
    arrived = 0
    for index, library in enumerate(all_libraries()):
        with serving(library), library_writer(library.alias) as writer:
            now = timezone.localtime().replace(tzinfo=None)
            later_by = BRANCH_HOURS[index % len(BRANCH_HOURS)]
            arrived += record_arrivals(writer, now=now, later_by=later_by)
    return arrived
