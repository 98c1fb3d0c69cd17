"""A report request's parameters, checked: every malformed one is named in a 400."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from metrics_cache.reports.catalog import Report
from metrics_cache.reports.periods import DEFAULT_SPAN_DAYS, MAX_SPAN_DAYS, Period

FORMATS = ("json", "csv", "xlsx")
COMPARES = ("previous_year",)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadParameter(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Query:
    report: Report
    by: str
    period: Period
    compare: bool
    format: str


def _date(params: Mapping, name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DATE.fullmatch(raw):
        raise BadParameter(name, f"{name} must be a date as YYYY-MM-DD, not {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name} is not a date of the calendar: {raw!r}") from None


def _choice(params: Mapping, name: str, choices: tuple[str, ...], default: str | None) -> str:
    raw = params.get(name) or default
    if raw not in choices:
        raise BadParameter(name, f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def period(params: Mapping, today: date) -> Period:
    """from/to: closed days only, at most MAX_SPAN_DAYS; to defaults to yesterday and from to
    DEFAULT_SPAN_DAYS days ending at to."""
    yesterday = today - timedelta(days=1)
    until = _date(params, "to") or yesterday
    if until > yesterday:
        raise BadParameter(
            "to", f"to must be a closed day, {yesterday.isoformat()} at the latest (today's "
            f"figures are live: /api/visitors/today)"
        )  # fmt: skip
    # The default span starts no earlier than the calendar does.
    span_start = max((until - date.min).days - (DEFAULT_SPAN_DAYS - 1), 0)
    since = _date(params, "from") or date.min + timedelta(days=span_start)
    if since > until:
        raise BadParameter("from", f"from ({since}) is after to ({until})")
    if (until - since).days + 1 > MAX_SPAN_DAYS:
        raise BadParameter("from", f"from..to covers at most {MAX_SPAN_DAYS} days")
    return Period(since, until)


def parse_choice(params: Mapping, name: str, choices: tuple[str, ...], default: str) -> str:
    return _choice(params, name, choices, default)


def parse(report: Report, params: Mapping, today: date) -> Query:
    by = _choice(params, "by", report.bys, "day")
    compare = params.get("compare")
    if compare:
        _choice(params, "compare", COMPARES, None)
    fmt = _choice(params, "format", FORMATS, "json")
    span = period(params, today)
    if compare and span.since.year == date.min.year:
        raise BadParameter("compare", "compare=previous_year needs a period after the year 1")
    return Query(report, by, span, bool(compare), fmt)


@dataclass(frozen=True)
class AnnualQuery:
    year: int
    compare: bool
    format: str


def parse_annual(params: Mapping, today: date) -> AnnualQuery:
    """year: a year with at least one closed day (default: this year, or last year on
    1 January)."""
    raw = params.get("year")
    default = (today - timedelta(days=1)).year
    if raw is None or raw == "":
        year = default
    elif not re.fullmatch(r"\d{4}", raw):
        raise BadParameter("year", f"year must be a year as YYYY, not {raw!r}")
    else:
        year = int(raw)
        if year > default:
            raise BadParameter("year", f"year {year} has no closed day yet")
        if year < date.min.year:
            raise BadParameter("year", f"year must be 1 or later, not {raw!r}")
    compare = params.get("compare")
    if compare:
        _choice(params, "compare", COMPARES, None)
        if year == date.min.year:
            raise BadParameter("compare", "compare=previous_year needs a year after the year 1")
    return AnnualQuery(year, bool(compare), _choice(params, "format", FORMATS, "json"))


def parse_format(params: Mapping) -> str:
    return _choice(params, "format", FORMATS, "json")
