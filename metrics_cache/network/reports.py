"""The network's reports: each library's figures (its own cached answer, in its own time zone)
and a total row. Every count in the total is the sum over the libraries; every ratio is
computed from those sums, never averaged; the busiest weekday and hour from the summed visits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from django.utils import timezone

from config.library import all_libraries, name, serving
from metrics_cache.reports import annual, params
from metrics_cache.reports.answers import Building, annual_answer, answer
from metrics_cache.reports.catalog import reports
from metrics_cache.reports.catalog import sources as catalog_sources
from metrics_cache.reports.params import AnnualQuery, Query

# The network's period reports: calendar buckets only (a room or a class is a library's own).
NETWORK_BYS = ("month", "year")
# Ratios of the annual figures: (numerator, divisor, places, factor), as metrics_cache.reports.
# annual computes them for one library.
RATIOS = {
    "visits_per_service_day": ("visits", "service_days", 1, 1),
    "loans_per_member": ("loans", "members", 2, 1),
    "turnover": ("loans", "items", 2, 1),
    "share_never_borrowed": ("items_never_borrowed", "items", 1, 100),
}
BUSIEST = {"busiest_weekday": "weekday", "busiest_hour": "hour"}


def _sum(values: list) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _by_month(rows: list[list[dict]]) -> list[dict]:
    return [
        {"month": month, "total": sum(row[month - 1]["total"] for row in rows)}
        for month in range(1, 13)
    ]


def annual_total(figures: list[dict], spread: dict[str, Counter]) -> dict:
    """The network's row: sums, ratios from the sums, the busiest from the summed visits."""
    total: dict = {}
    for key in annual.LABELS:
        values = [row[key] for row in figures]
        if key in RATIOS:
            continue
        if key.endswith("_by_month"):
            total[key] = _by_month(values)
        elif key in BUSIEST:
            total[key] = _busiest(spread[BUSIEST[key]])
        else:
            total[key] = _sum(values)
    for key, (numerator, divisor, places, factor) in RATIOS.items():
        top = total[numerator]
        total[key] = None if top is None else annual.ratio(factor * top, total[divisor], places)
    return {key: total[key] for key in annual.LABELS}


def _busiest(totals: Counter) -> int | None:
    best = max(totals.values(), default=0)
    return min(k for k, v in totals.items() if v == best) if best else None


def earliest_today():
    """The network's "today" for its periods: the earliest of the libraries' (a day closed in
    one zone may still be open in another)."""
    todays = []
    for library in all_libraries():
        with serving(library):
            todays.append(timezone.localdate())
    return min(todays)


def annual_envelope(raw: Mapping) -> dict:
    """GET /api/network/reports/annual: params.BadParameter on a bad parameter."""
    rows, missing, spread = [], [], {"weekday": Counter(), "hour": Counter()}
    visits = reports()["visits"]
    query = params.parse_annual(raw, earliest_today())
    for library in all_libraries():
        with serving(library):
            today = timezone.localdate()
            result = annual_answer(AnnualQuery(query.year, False, "json"), today, catalog_sources())
            period = annual.year_period(query.year, today)
            if isinstance(result, Building) or period is None:
                missing.append(library.slug)
                continue
            for by, counter in spread.items():
                shares = answer(Query(visits, by, period, False, "json"))
                if isinstance(shares, Building):
                    continue
                counter.update({item[by]: item["total"] for item in shares.body["data"]})
            rows.append({"slug": library.slug, "name": name(library), **result.body["data"]})
    figures = [{key: row[key] for key in annual.LABELS} for row in rows]
    return {
        "report": "annual",
        "year": query.year,
        "generated_at": timezone.localtime().isoformat(timespec="milliseconds"),
        "libraries": rows,
        "total": annual_total(figures, spread) if figures else None,
        # Libraries whose figures are not there yet (their rollups' first build runs).
        "missing": missing,
    }


def period_envelope(report_name: str, raw: Mapping) -> dict:
    """GET /api/network/reports/visits|loans: each library's totals by month or year."""
    report = reports()[report_name]
    by = params.parse_choice(raw, "by", NETWORK_BYS, "month")
    query = params.parse(report, {**dict(raw.items()), "by": by, "compare": ""}, earliest_today())
    rows, missing, totals = [], [], {}
    for library in all_libraries():
        with serving(library):
            result = answer(query)
            if isinstance(result, Building):
                missing.append(library.slug)
                continue
            body = result.body
            for item in body["data"]:
                bucket = tuple((k, v) for k, v in item.items() if k != "total")
                totals[bucket] = totals.get(bucket, 0) + item["total"]
            rows.append({"slug": library.slug, "name": name(library), "total": body["total"],
                         "data": body["data"]})  # fmt: skip
    return {
        "report": report_name,
        "by": by,
        "period": query.period.as_json(),
        "generated_at": timezone.localtime().isoformat(timespec="milliseconds"),
        "libraries": rows,
        "total": {
            "total": sum(row["total"] for row in rows),
            "data": [{**dict(bucket), "total": n} for bucket, n in totals.items()],
        },
        "missing": missing,
    }
