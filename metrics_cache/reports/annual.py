"""The year's figures for the national library's census, the literacy index (IPLM) and
accreditation: each domain app gives its part (Report.annual), this module the ratios and the
year before."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from metrics_cache.reports.catalog import reports
from metrics_cache.reports.periods import Period

# The keys in the order of the contract's table, each with its label (English; the CSV's and
# the sheet's label column).
LABELS = {
    "visits": "Visits",
    "member_visits": "Visits by members",
    "guest_visits": "Visits by guests",
    "service_days": "Service days (days with at least one visit)",
    "visits_per_service_day": "Visits per service day",
    "visiting_members": "Members who visited",
    "members": "Members",
    "new_members": "New members",
    "loans": "Loans",
    "borrowers": "Borrowers",
    "loans_per_member": "Loans per member",
    "titles": "Titles",
    "items": "Copies",
    "titles_added": "Titles added",
    "items_added": "Copies added",
    "turnover": "Turnover (loans per copy)",
    "items_never_borrowed": "Copies never borrowed",
    "share_never_borrowed": "Share of copies never borrowed (%)",
    "visits_by_month": "Visits by month",
    "loans_by_month": "Loans by month",
    "busiest_weekday": "Busiest weekday (1 = Monday)",
    "busiest_hour": "Busiest hour",
}


def ratio(numerator: int, divisor: int, places: int) -> float | None:
    return None if not divisor else round(numerator / divisor, places)


def year_period(year: int, today: date) -> Period | None:
    """The year, closed or to yesterday; None for a year with no closed day yet."""
    until = min(date(year, 12, 31), today - timedelta(days=1))
    if until < date(year, 1, 1):
        return None
    return Period(date(year, 1, 1), until)


def figures(period: Period) -> dict:
    found: dict = {}
    for report in reports().values():
        if report.annual is not None:
            found.update(report.annual(period))
    found["visits_per_service_day"] = ratio(found["visits"], found["service_days"], 1)
    found["loans_per_member"] = ratio(found["loans"], found["members"], 2)
    found["turnover"] = ratio(found["loans"], found["items"], 2)
    never = found["items_never_borrowed"]
    found["share_never_borrowed"] = None if never is None else ratio(100 * never, found["items"], 1)
    return {key: found[key] for key in LABELS}


def envelope(year: int, today: date, *, compare: bool, now: datetime) -> dict:
    period = year_period(year, today)
    body = {
        "report": "annual",
        "year": year,
        "complete": period.until == date(year, 12, 31),
        "period": period.as_json(),
        "generated_at": now.isoformat(timespec="milliseconds"),
        "data": figures(period),
    }
    if compare:
        body["previous"] = figures(Period(date(year - 1, 1, 1), date(year - 1, 12, 31)))
    return body
