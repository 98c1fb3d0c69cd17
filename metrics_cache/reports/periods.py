"""A report's period of closed local days: its buckets (ISO weeks, months, years) and the same
period one year earlier."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta

# The longest period a report covers: ten years and their leap days.
MAX_SPAN_DAYS = 3660
DEFAULT_SPAN_DAYS = 30


@dataclass(frozen=True)
class Period:
    since: date
    until: date

    def as_json(self) -> dict:
        return {"from": self.since.isoformat(), "to": self.until.isoformat()}

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def year_earlier(day: date) -> date:
    """The same date one year earlier; 29 February becomes 28 February."""
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


def previous_year(period: Period) -> Period:
    return Period(year_earlier(period.since), year_earlier(period.until))


@dataclass(frozen=True)
class Bucket:
    """One item of a report over time: its fields (`{"month": "2026-11"}`) and its days."""

    fields: dict
    since: date
    until: date
    # The same item a year earlier (None when it has none: a 53rd week the year before lacks).
    previous: tuple[date, date] | None = field(default=None, compare=False)


def _clip(period: Period, since: date, until: date) -> tuple[date, date]:
    return max(since, period.since), min(until, period.until)


def days(period: Period) -> list[Bucket]:
    out, day = [], period.since
    while day <= period.until:
        earlier = year_earlier(day)
        out.append(Bucket({"date": day.isoformat()}, day, day, (earlier, earlier)))
        day += timedelta(days=1)
    return out


def _same_week_a_year_earlier(iso_year: int, week: int, since: date, until: date):
    try:
        return (
            date.fromisocalendar(iso_year - 1, week, since.isoweekday()),
            date.fromisocalendar(iso_year - 1, week, until.isoweekday()),
        )
    except ValueError:  # week 53 of a year before that had 52
        return None


def weeks(period: Period) -> list[Bucket]:
    """ISO weeks (Monday first), the first and last clipped to the period; a week a year
    earlier is the same week number on the same weekdays."""
    out = []
    monday = period.since - timedelta(days=period.since.weekday())
    while monday <= period.until:
        since, until = _clip(period, monday, monday + timedelta(days=6))
        iso_year, week, _ = monday.isocalendar()
        label = f"{iso_year}-W{week:02d}"
        fields = {"week": label, "from": since.isoformat(), "to": until.isoformat()}
        previous = _same_week_a_year_earlier(iso_year, week, since, until)
        out.append(Bucket(fields, since, until, previous))
        monday += timedelta(days=7)
    return out


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months(period: Period) -> list[Bucket]:
    out, start = [], period.since.replace(day=1)
    while start <= period.until:
        since, until = _clip(period, start, _next_month(start) - timedelta(days=1))
        previous = (year_earlier(since), year_earlier(until))
        out.append(Bucket({"month": f"{start:%Y-%m}"}, since, until, previous))
        start = _next_month(start)
    return out


def years(period: Period) -> list[Bucket]:
    out = []
    for year in range(period.since.year, period.until.year + 1):
        since, until = _clip(period, date(year, 1, 1), date(year, 12, 31))
        out.append(Bucket({"year": year}, since, until, (year_earlier(since), year_earlier(until))))
    return out


BUCKETS = {"day": days, "week": weeks, "month": months, "year": years}


class DailySeries:
    """Totals per day, summed over any range in O(log n)."""

    def __init__(self, totals: dict[date, int]):
        self._days = sorted(totals)
        self._running = [0]  # pragma: no mutate (only differences of it are read)
        for day in self._days:
            self._running.append(self._running[-1] + totals[day])

    def total(self, since: date, until: date) -> int:
        first = bisect.bisect_left(self._days, since)
        after = bisect.bisect_right(self._days, until)
        return self._running[after] - self._running[first]  # since <= until: after >= first
