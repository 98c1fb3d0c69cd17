"""Reads of visitor_count. Date ranges are on the raw column (no function of it in WHERE)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from visitors.models import Visit


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the library's zone (LIBRARY_TIME_ZONE is Django's active zone)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def visits_between(*, start: date, end: date):
    """Visits from the start of `start` up to (not including) the start of `end`, local time."""
    return Visit.objects.filter(
        checkin_date__gte=local_day_start(start), checkin_date__lt=local_day_start(end)
    )


def visits_on(*, day: date) -> int:
    return visits_between(start=day, end=day + timedelta(days=1)).count()


def daily_visit_totals(*, since: date, until: date) -> dict[date, int]:
    """{local date: visits} for since..until inclusive; days without visits are absent."""
    rows = (
        visits_between(start=since, end=until + timedelta(days=1))
        .annotate(day=TruncDate("checkin_date"))
        .values("day")
        .annotate(total=Count("visitor_id"))
        .values_list("day", "total")
    )
    return dict(rows)
