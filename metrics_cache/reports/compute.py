"""A report's envelope: its items over the period, their total, and a year earlier beside them."""

from __future__ import annotations

from datetime import datetime

from metrics_cache.reports.catalog import Report
from metrics_cache.reports.periods import BUCKETS, DailySeries, Period, previous_year


def envelope(report: Report, by: str, period: Period, *, compare: bool, now: datetime) -> dict:
    """The contract's report envelope, as a dict ready for JSON."""
    series = DailySeries(report.daily(period.since, period.until))
    body = {
        "report": report.name,
        "by": by,
        "period": period.as_json(),
        "generated_at": now.isoformat(timespec="milliseconds"),
        "total": series.total(period.since, period.until),
    }
    earlier = previous_year(period)
    if by in BUCKETS:
        items, extra = _over_time(report, by, period, series, compare=compare)
    else:
        items, extra = _broken_down(report, by, period, earlier, compare=compare)
    if compare:
        body["previous_period"] = earlier.as_json()
        before = DailySeries(report.daily(earlier.since, earlier.until))
        body["previous_total"] = before.total(earlier.since, earlier.until)
    body.update(extra)
    body["data"] = items
    return body


def _over_time(report: Report, by: str, period: Period, series: DailySeries, *, compare: bool):
    buckets = BUCKETS[by](period)
    items = [{**b.fields, "total": series.total(b.since, b.until)} for b in buckets]
    if compare:
        # A 53rd ISO week has no week a year earlier: its previous is null, and a period
        # holding only that week reads nothing.
        ranges = [b.previous for b in buckets if b.previous is not None]
        if ranges:
            before = DailySeries(report.daily(min(r[0] for r in ranges), max(r[1] for r in ranges)))
        # The same buckets the items were made from: strict only asserts it.
        for item, bucket in zip(items, buckets, strict=True):  # pragma: no mutate
            item["previous"] = None if bucket.previous is None else before.total(*bucket.previous)
    return items, {}


def _broken_down(report: Report, by: str, period: Period, earlier: Period, *, compare: bool):
    breakdown = report.breakdowns[by](period)
    items = breakdown.items
    extra = dict(breakdown.extra)
    if compare:
        before = report.breakdowns[by](earlier)
        totals = {tuple(i[k] for k in before.key): i["total"] for i in before.items}
        # An item a year earlier that has none now (a room since removed) is left out: the
        # previous_total still counts it.
        for item in items:
            item["previous"] = totals.get(tuple(item[k] for k in breakdown.key), 0)
        extra.update({f"previous_{name}": value for name, value in before.extra.items()})
    return items, extra
