"""The visits' part of the annual figures (metrics_cache.reports.annual), from the rollups."""

from __future__ import annotations

from collections import Counter

from django.db.models import Sum

from metrics_cache.reports.periods import Period
from visitors import rollups
from visitors.models import VisitDay, VisitHour


def figures(period: Period) -> dict:
    """visits, member_visits, guest_visits, service_days, visiting_members, visits_by_month,
    busiest_weekday and busiest_hour over the period (a year, or this year to yesterday)."""
    days, hours = _days_and_hours(period)
    by_audience = dict(hours.values_list("guest").annotate(n=Sum("total")).order_by())
    by_month = dict.fromkeys(range(1, 13), 0)
    for day, total in days.items():
        by_month[day.month] += total
    by_weekday, by_hour = distributions(period, days, hours)
    members = rollups.members_counted(period.since, period.until)
    return {
        "visits": sum(days.values()),
        "member_visits": by_audience.get(False, 0),
        "guest_visits": by_audience.get(True, 0),
        "service_days": len(days),
        "visiting_members": members,
        "visits_by_month": [{"month": m, "total": n} for m, n in by_month.items()],
        "busiest_weekday": busiest(by_weekday),
        "busiest_hour": busiest(by_hour),
    }


def _days_and_hours(period: Period):
    in_period = {
        "generation": rollups.generation(),
        "day__gte": period.since,
        "day__lte": period.until,
    }
    days = dict(VisitDay.objects.filter(**in_period, total__gt=0).values_list("day", "total"))
    return days, VisitHour.objects.filter(**in_period)


def distributions(period: Period, days=None, hours=None) -> tuple[Counter, Counter]:
    """The period's visits by ISO weekday and by hour (the network's busiest are taken from
    the libraries' summed visits)."""
    if days is None:
        days, hours = _days_and_hours(period)
    by_weekday: Counter[int] = Counter()
    for day, total in days.items():
        by_weekday[day.isoweekday()] += total
    by_hour = Counter(dict(hours.values_list("hour").annotate(n=Sum("total")).order_by()))
    return by_weekday, by_hour


def busiest(totals: dict[int, int]) -> int | None:
    """The key with the highest total, ties to the earliest; None when all are 0."""
    best = max(totals.values(), default=0)  # pragma: no mutate (no totals: None either way)
    return min(k for k, v in totals.items() if v == best) if best else None
