"""The metric registry: each snapshot declared once; jobs, views, admin and health read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from books import rollups as book_rollups
from books import selectors as books
from metrics_cache.snapshots import periods, shapes
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.periods import Period
from visitors import rollups as visit_rollups
from visitors import selectors as visitors

GROUPS = ("visitors", "books")


@dataclass(frozen=True)
class Metric:
    name: str
    group: str
    title: str
    period: Callable[[date], Period]
    compute: Callable[[RunContext, Period], list | dict]
    paths: tuple[str, ...]  # the first is canonical; the others are deprecated aliases
    item: type = shapes.DailyTotal  # the OpenAPI shape of one entry of `data`
    many: bool = True  # `data` is a list of items (else one object)
    personal: bool = False  # names library members (see snapshots.privacy)
    # The statements the metric runs on the library database, for manage.py doctor's EXPLAIN.
    queries: Callable[[Period], list] = lambda period: []


def _weekly(ctx: RunContext, period: Period) -> list:
    daily = ctx.daily_visits(period.start)
    days = [period.start + timedelta(days=n) for n in range((period.end - period.start).days + 1)]
    return [{"date": day.isoformat(), "total": daily.get(day, 0)} for day in days]


def _monthly(ctx: RunContext, period: Period) -> list:
    totals: dict[str, int] = {}
    for day, total in ctx.daily_visits(period.start).items():
        if period.start <= day <= period.end:
            key = f"{day:%Y-%m}"
            totals[key] = totals.get(key, 0) + total
    months = [f"{month:%Y-%m}" for month in periods.month_starts(period)]
    return [{"month": month, "total": totals.get(month, 0)} for month in months]


def _yearly(ctx: RunContext, period: Period) -> list:
    totals: dict[int, int] = {}
    for day, total in ctx.daily_visits(period.start).items():
        if period.start <= day <= period.end:
            totals[day.year] = totals.get(day.year, 0) + total
    return [{"year": year, "total": totals.get(year, 0)} for year in periods.years(period)]


def _top_visitors(ctx: RunContext, period: Period) -> list:
    since, until = period.start, period.end
    if ctx.from_rollups(visit_rollups.SOURCE_NAME):
        return [asdict(v) for v in visit_rollups.top_visitors(since=since, until=until)]
    return [asdict(v) for v in visitors.top_visitors(since=since, until=until)]


def _collection(ctx: RunContext, period: Period) -> dict:
    return asdict(books.collection_size())


def _top_borrowed(ctx: RunContext, period: Period) -> list:
    since, until = period.start, period.end
    if ctx.from_rollups(book_rollups.SOURCE_NAME):
        return [asdict(b) for b in book_rollups.top_borrowed_books(since=since, until=until)]
    return [asdict(b) for b in books.top_borrowed_books(since=since, until=until)]


def _top_borrowers(ctx: RunContext, period: Period) -> list:
    since, until = period.start, period.end
    if ctx.from_rollups(book_rollups.SOURCE_NAME):
        return [asdict(b) for b in book_rollups.top_borrowers(since=since, until=until)]
    return [asdict(b) for b in books.top_borrowers(since=since, until=until)]


def _daily_queries(period: Period) -> list:
    return [visitors.daily_totals_query(since=period.start, until=period.end)]


def _visitor_queries(period: Period) -> list:
    return list(visitors.visitor_totals_queries(since=period.start, until=period.end))


def _book_queries(period: Period) -> list:
    return [books.book_totals_query(since=period.start, until=period.end)]


def _borrower_queries(period: Period) -> list:
    return [books.borrower_totals_query(since=period.start, until=period.end)]


# Within a group, the widest visit range comes first so the others reuse its scan.
METRICS: tuple[Metric, ...] = (
    Metric("yearly", "visitors", "Visits per year, last 5 years", periods.yearly, _yearly,
           ("api/visitors/yearly",), item=shapes.YearlyTotal, queries=_daily_queries),
    Metric("monthly", "visitors", "Visits per month, last 12 months", periods.monthly, _monthly,
           ("api/visitors/monthly",), item=shapes.MonthlyTotal, queries=_daily_queries),
    Metric("weekly", "visitors", "Visits per day, last 7 days", periods.weekly, _weekly,
           ("api/visitors/weekly",), item=shapes.DailyTotal, queries=_daily_queries),
    Metric("top_visitors_month", "visitors", "Top visitors this month", periods.month_to_date,
           _top_visitors, ("api/visitors/monthly/top",), item=shapes.TopVisitor, personal=True,
           queries=_visitor_queries),
    Metric("top_visitors_year", "visitors", "Top visitors this year", periods.year_to_date,
           _top_visitors, ("api/visitors/yearly/top",), item=shapes.TopVisitor, personal=True,
           queries=_visitor_queries),
    Metric("collection", "books", "Titles and copies", periods.all_time, _collection,
           ("api/books/stats/collection", "api/books/collection"), item=shapes.Collection,
           many=False),
    Metric("top_borrowed", "books", "Most borrowed titles, all time", periods.all_time,
           _top_borrowed, ("api/books/top/borrowed", "api/books/top-borrowed"),
           item=shapes.TopBook, queries=_book_queries),
    Metric("top_borrowed_month", "books", "Most borrowed titles this month",
           periods.month_to_date, _top_borrowed,
           ("api/books/top/borrowed/month", "api/books/top-borrowed/month"), item=shapes.TopBook,
           queries=_book_queries),
    Metric("top_borrowed_year", "books", "Most borrowed titles this year", periods.year_to_date,
           _top_borrowed, ("api/books/top/borrowed/year", "api/books/top-borrowed/year"),
           item=shapes.TopBook, queries=_book_queries),
    Metric("top_borrowers_month", "books", "Top borrowers this month", periods.month_to_date,
           _top_borrowers, ("api/books/top/borrowers/month", "api/books/top-borrowers/month"),
           item=shapes.TopBorrower, personal=True, queries=_borrower_queries),
    Metric("top_borrowers_year", "books", "Top borrowers this year", periods.year_to_date,
           _top_borrowers, ("api/books/top/borrowers/year", "api/books/top-borrowers/year"),
           item=shapes.TopBorrower, personal=True, queries=_borrower_queries),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}


def in_group(group: str) -> list[Metric]:
    return [metric for metric in METRICS if metric.group == group]
