"""The contract's periods: every snapshot ends yesterday, in the library's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    start: date | None  # None: all time
    end: date  # inclusive; before `start` on the 1st of a month (an empty range)

    def as_json(self) -> dict:
        return {"from": self.start and self.start.isoformat(), "to": self.end.isoformat()}


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def weekly(today: date) -> Period:
    return Period(today - timedelta(days=7), today - timedelta(days=1))


def monthly(today: date) -> Period:
    return Period(_months_back(today, 11), today - timedelta(days=1))


def yearly(today: date) -> Period:
    return Period(date(today.year - 4, 1, 1), today - timedelta(days=1))


def month_to_date(today: date) -> Period:
    return Period(today.replace(day=1), today - timedelta(days=1))


def year_to_date(today: date) -> Period:
    return Period(date(today.year, 1, 1), today - timedelta(days=1))


def all_time(today: date) -> Period:
    return Period(None, today - timedelta(days=1))


def month_starts(period: Period) -> list[date]:
    """The first day of each month from the period's start to today's month (even if empty)."""
    today_month = (period.end + timedelta(days=1)).replace(
        day=1  # pragma: no mutate (the loop compares 1sts with it: any day to the 28th alike)
    )
    months, current = [], period.start
    while current <= today_month:
        months.append(current)
        current = _months_back(current, -1)
    return months


def years(period: Period) -> list[int]:
    """Each year from the period's start to today's year (even if empty)."""
    return list(range(period.start.year, (period.end + timedelta(days=1)).year + 1))
