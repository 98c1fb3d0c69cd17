"""Reports on a seeded SLiMS database: every report uncached over a month, a year and ten
years, the annual figures, a cached answer, the circulation's re-read, the copies' statements
and the size of the rollups.

    python -m bench.reports [--database bench_slims_5m] [--repeat 3]

Uses the rollups of the last `python -m bench.rollups --database …` run (its SQLite file), or
builds them first. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import date

from bench.harness.machine import machine
from bench.harness.processes import ROOT
from bench.harness.report import command_line, log, percentile
from bench.rollups_setup import LAST_DAY, NEXT_DAY, setup

SPANS = {
    "a month": (date(2026, 10, 1), date(2026, 10, 31)),
    "a year": (date(2025, 11, 25), LAST_DAY),
    "ten years": (date(2016, 11, 26), LAST_DAY),
}
BEFORE = ("visitors_visitday", "visitors_visitortally", "books_loanday", "books_loantally")


def timed(function, repeat: int) -> float:
    """The median wall time of `function()`, in ms."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def ensure_built() -> None:
    from metrics_cache.rollups import engine
    from metrics_cache.rollups.sources import sources

    for source in sources().values():
        state = engine.ensure_live(source)
        while state.built_at is None:
            log(f"building {source.name}: {state.progress:.0%}")
            engine.fold(source, state, budget_seconds=30)


def matrix(report: list[str], repeat: int) -> None:
    from django.utils import timezone

    from metrics_cache.reports.catalog import reports
    from metrics_cache.reports.compute import envelope
    from metrics_cache.reports.periods import Period

    rows, slowest = [], (0.0, "")
    for name, definition in reports().items():
        for by in definition.bys:
            cells = []
            for span, (since, until) in SPANS.items():
                period = Period(since, until)
                ms = timed(
                    lambda d=definition, b=by, p=period: envelope(
                        d, b, p, compare=True, now=timezone.localtime()
                    ),
                    repeat,
                )
                cells.append(ms)
                slowest = max(slowest, (ms, f"{name} by {by} over {span}"))
            rows.append(f"| {name} | `{by}` | " + " | ".join(f"{ms:,.1f}" for ms in cells) + " |")
    report += [
        f"### Every report uncached, with `compare=previous_year` (ms, median of {repeat})",
        "",
        "| report | by | " + " | ".join(SPANS) + " |",
        "|---|---|" + "---:|" * len(SPANS),
        *rows,
        "",
        f"Slowest: {slowest[1]}, {slowest[0]:,.1f} ms.",
        "",
    ]


def annual_and_cached(report: list[str], repeat: int) -> None:
    from django.utils import timezone

    from metrics_cache.reports import annual, params
    from metrics_cache.reports.answers import answer
    from metrics_cache.reports.catalog import reports

    annual_ms = timed(
        lambda: annual.envelope(2025, NEXT_DAY, compare=True, now=timezone.localtime()), repeat
    )
    query = params.parse(
        reports()["visits"], {"by": "weekday_hour", "compare": "previous_year"}, NEXT_DAY
    )
    answer(query)  # computed and kept
    cached_ms = timed(lambda: answer(query), max(repeat, 20))
    report += [
        "### The annual figures and a cached report",
        "",
        "| what | ms (median) |",
        "|---|---:|",
        f"| `annual`, 2025 beside 2024, uncached | {annual_ms:,.1f} |",
        f"| a report asked again (Redis, no computing) | {cached_ms:,.2f} |",
        "",
    ]


def statements_of(function) -> tuple[float, list[float]]:
    """Runs `function` timing each statement it sends to SLiMS: (wall ms, [statement ms])."""
    from django.db import connections

    timings: list[float] = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with connections["library"].execute_wrapper(timer):
        function()
    return (time.perf_counter() - started) * 1000, timings


def circulation_and_copies(report: list[str]) -> None:
    from books import circulation
    from books.models import OpenLoan
    from metrics_cache.reports import breakdowns
    from metrics_cache.reports.catalog import copy_lookups, reports

    open_loans = OpenLoan.objects.filter(returned_on__isnull=True).count()
    refresh_ms, refresh_statements = statements_of(lambda: circulation.refresh(NEXT_DAY))
    copy_ms, copy_statements = statements_of(copy_lookups)
    # What the five-minute job does after the copies: every stale closed day counted again.
    started, days = time.perf_counter(), 0
    for definition in reports().values():
        if definition.groupings is not None:
            days += breakdowns.refresh(definition.groupings, until=LAST_DAY)
    recount_s = time.perf_counter() - started
    report += [
        "### Statements on SLiMS: the circulation's re-read and the copies",
        "",
        "| job | wall time | statements | p50 | p99 | longest |",
        "|---|---:|---:|---:|---:|---:|",
        f"| re-read {open_loans:,} open loans by primary key | {refresh_ms:,.0f} ms "
        f"| {len(refresh_statements)} | {statistics.median(refresh_statements):.1f} ms "
        f"| {percentile(refresh_statements, 99):.1f} ms | {max(refresh_statements):.1f} ms |",
        f"| copy the names and member, item, biblio | {copy_ms:,.0f} ms "
        f"| {len(copy_statements)} | {statistics.median(copy_statements):.1f} ms "
        f"| {percentile(copy_statements, 99):.1f} ms | {max(copy_statements):.1f} ms |",
        "",
        f"Then every stale day's groupings counted again (the service's database only): "
        f"{days:,} days in {recount_s:.1f} s.",
        "",
    ]


def sizes(report: list[str], database: str) -> None:
    from visitors.models import Visit

    visits = Visit.objects.count()
    path = ROOT / "var" / f"bench-rollups-{database}.sqlite3"
    with sqlite3.connect(path) as db:
        pages = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        indexes = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'"))
    size = {t: pages.get(t, 0) for t in tables}
    for index, table in indexes.items():
        size[table] = size.get(table, 0) + pages.get(index, 0)
    rollups = [t for t in tables if t.startswith(("visitors_", "books_")) and counts[t]]
    per_million = 1_000_000 / visits
    lines = [
        f"| `{t}` | {counts[t]:,} | {size[t] / 2**20 * per_million:,.1f} |"
        for t in sorted(rollups, key=lambda t: -size[t])
    ]
    before = sum(size[t] for t in BEFORE if t in size) / 2**20 * per_million
    after = sum(size[t] for t in rollups) / 2**20 * per_million
    report += [
        f"### The service's tables, per million visits ({visits:,} visits; SQLite, with indexes)",
        "",
        "| table | rows | MiB per million visits |",
        "|---|---:|---:|",
        *lines,
        "",
        f"Before the reports (the day and tally tables): {before:,.1f} MiB per million visits; "
        f"with them: {after:,.1f} MiB.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--database", default="bench_slims_5m")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup(args.database, fresh=False)
    import time_machine

    report = [f"## Reports on `{args.database}`", "", f"`{command_line('bench.reports')}`", ""]
    report += ["Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    ensure_built()
    with time_machine.travel(NEXT_DAY.isoformat() + " 00:30 +07:00", tick=True):
        log("copies")
        circulation_and_copies(report)
        log("matrix")
        matrix(report, args.repeat)
        log("annual and cached")
        annual_and_cached(report, args.repeat)
        sizes(report, args.database)
    print("\n".join(report))


if __name__ == "__main__":
    main()
