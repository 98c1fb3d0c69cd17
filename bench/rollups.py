"""Rollups on a seeded SLiMS database: first build, a nightly run, snapshots from the rollups
against the scanning selectors, and today's count after an import block.

Usage: .venv/bin/python bench/rollups.py [--database bench_slims_5m] [--import-rows N]
The database comes from bench/seed_demo.py (history up to 2026-11-25 12:00). The service's own
tables go to a fresh SQLite file (var/bench-rollups-<database>.sqlite3), as in the default
install.
Writes to the bench database (one day of new rows, the import block) go through root, never
through the service's read-only connection. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database: str, *, fresh: bool) -> None:
    app_db = ROOT / "var" / f"bench-rollups-{database}.sqlite3"
    app_db.parent.mkdir(exist_ok=True)
    if fresh:
        app_db.unlink(missing_ok=True)
    os.environ.update(
        LIBRARY_DATABASE_URL=f"mysql://root@127.0.0.1:3306/{database}",
        DATABASE_URL=f"sqlite:///{app_db}",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        SECRET_KEY="bench",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def writer(database: str):
    import MySQLdb

    return MySQLdb.connect(host="127.0.0.1", user="root", database=database, autocommit=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="bench_slims_5m")
    parser.add_argument("--import-rows", type=int, default=0)
    parser.add_argument(
        "--import-only", action="store_true", help="reuse the rollups of the last run"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="skip the first build: the last run's rollups"
    )
    parser.add_argument(
        "--compute-only",
        action="store_true",
        help="on the last run's rollups: each metric computed from them, median of --repeat",
    )
    parser.add_argument(
        "--nightly-only",
        action="store_true",
        help="on the last run's rollups: --repeat nightly runs (a day of rows, fold, compute)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", help="with --compute-only: write cProfile stats here")
    args = parser.parse_args()
    setup(
        args.database,
        fresh=not (args.import_only or args.reuse or args.compute_only or args.nightly_only),
    )

    import time_machine
    from django.db import connections

    from bench.common import counters, machine
    from metrics_cache import folding, rollups
    from metrics_cache.registry import METRICS, RunContext

    jakarta = ZoneInfo("Asia/Jakarta")
    library = connections["library"]
    report = [f"Machine: {machine()}", f"Database: {args.database}", ""]

    class ScanContext(RunContext):
        def from_rollups(self, source: str) -> bool:
            return False

    def all_metrics(ctx):
        return {m.name: m.compute(ctx, m.period(ctx.today)) for m in METRICS}

    if args.import_only:
        import_block(args, report, jakarta)
        print("\n".join(report))
        return
    if args.nightly_only:
        nightly_only(args, report, jakarta)
        print("\n".join(report))
        return
    if args.compute_only:
        compute_only(args, report, jakarta)
        print("\n".join(report))
        return

    # --- first build ---------------------------------------------------------------------------
    with time_machine.travel(datetime(2026, 11, 25, 12, 30, tzinfo=jakarta), tick=True):
        statements: list[float] = []
        started = time.perf_counter()
        for source in folding.SOURCES.values():
            state = rollups.ensure_live(source)
            while state.built_at is None:
                result = rollups.fold(
                    source, state, budget_seconds=10, pause_seconds=rollups.BUILD_PAUSE_SECONDS
                )
                statements += result.statements_ms
        build_s = time.perf_counter() - started
        for name in folding.SOURCES:  # rows added by an earlier run's nightly step
            folding.catch_up(name)
        rows = sum(rollups.live_state(name).rows_folded for name in folding.SOURCES)
        report += (
            []
            if args.reuse
            else [
                "### First build",
                "",
                "| rows folded | wall time | rows/s | chunks | statement p50 | p99 | longest |",
                "|---:|---:|---:|---:|---:|---:|---:|",
                f"| {rows:,} | {build_s:.1f} s | {rows / build_s:,.0f} | {len(statements):,} "
                f"| {statistics.median(statements):.1f} ms | {percentile(statements, 0.99):.1f} ms "
                f"| {max(statements):.1f} ms |",
                "",
            ]
        )

    # --- one day of new rows, then the nightly run ------------------------------------------
    insert_one_day(args.database)

    def nightly(context_class, label):
        library.close()
        before = counters(library)
        started = time.perf_counter()
        ctx = context_class(date(2026, 11, 26))
        fold_rows = 0
        longest = 0.0
        if context_class is RunContext:
            for name in folding.SOURCES:
                result = folding.catch_up(name)
                fold_rows += result.rows
                longest = max(longest, result.longest_statement_ms)
                ctx._ready[name] = True
        data = all_metrics(ctx)
        wall = time.perf_counter() - started
        after = counters(library)
        reads = sum(after[k] - before[k] for k in after if k.startswith("Handler_read"))
        return label, wall, fold_rows, reads, longest, data

    with time_machine.travel(datetime(2026, 11, 26, 0, 5, tzinfo=jakarta), tick=True):
        rolled = nightly(RunContext, "from the rollups (fold new rows, then compute)")
        scanned = nightly(ScanContext, "scanning SLiMS (before)")
        started = time.perf_counter()
        again = all_metrics(RunContext(date(2026, 11, 26)))
        compute_s = time.perf_counter() - started
        assert rolled[5] == scanned[5], "rollups and the full recount disagree"
        assert again == rolled[5]
    report += [
        "### Nightly refresh, one day of new rows (2,740 visits, 548 loans), all 11 metrics",
        "",
        "| how | wall time | rows folded | rows read on SLiMS (Handler_read_*) "
        "| longest fold read |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, wall, fold_rows, reads, longest, _ in (rolled, scanned):
        report.append(f"| {label} | {wall:.2f} s | {fold_rows:,} | {reads:,} | {longest:.1f} ms |")
    report += [
        "",
        f"Ratio scan / rollups: {scanned[1] / rolled[1]:.1f} times. All 11 metrics from the "
        f"rollups with nothing new to fold: {compute_s:.2f} s. The two ways gave identical "
        "snapshots.",
        "",
    ]

    cache_miss(args, report, jakarta)
    if args.import_rows:
        import_block(args, report, jakarta)
    print("\n".join(report))


def insert_one_day(database: str) -> None:
    """One average day of new rows dated 2026-11-25, through root (never the service's
    read-only connection)."""
    per_day_visits, per_day_loans = 2_740, 548
    with writer(database) as conn:
        cursor = conn.cursor()
        cursor.executemany(
            "INSERT INTO visitor_count (member_id, member_name, institution, checkin_date) "
            "VALUES (%s, %s, %s, %s)",
            [
                (None if n % 4 == 0 else f"M{n % 40000:06d}", f"Visitor {n}", "Umum",
                 f"2026-11-25 {8 + n * 12 // per_day_visits:02d}:{n % 60:02d}:00")
                for n in range(per_day_visits)
            ],
        )  # fmt: skip
        cursor.execute("SELECT item_code FROM item ORDER BY item_id LIMIT 500")
        codes = [row[0] for row in cursor.fetchall()]
        cursor.executemany(
            "INSERT INTO loan (item_code, member_id, loan_date, due_date) VALUES (%s, %s, %s, %s)",
            [
                (codes[n % len(codes)], f"M{n % 40000:06d}", "2026-11-25", "2026-12-02")
                for n in range(per_day_loans)
            ],
        )


def nightly_only(args, report: list[str], jakarta) -> None:
    """--repeat nightly runs on the last run's rollups, each after one more day of new rows:
    the fold of both tables, then all 11 metrics, as the daily jobs make it."""
    import time_machine
    from django.db import connections

    from metrics_cache import folding
    from metrics_cache.registry import METRICS, RunContext

    runs: list[tuple[float, float, int]] = []
    for _ in range(args.repeat):
        insert_one_day(args.database)
        connections["library"].close()
        with time_machine.travel(datetime(2026, 11, 26, 0, 5, tzinfo=jakarta), tick=True):
            started = time.perf_counter()
            ctx = RunContext(date(2026, 11, 26))
            rows = sum(folding.catch_up(name).rows for name in folding.SOURCES)
            folded = time.perf_counter()
            ctx._ready.update(dict.fromkeys(folding.SOURCES, True))
            for metric in METRICS:
                metric.compute(ctx, metric.period(ctx.today))
            runs.append((folded - started, time.perf_counter() - started, rows))
    report += [
        f"### Nightly run on the rollups, {args.repeat} times (a day of new rows each)",
        "",
        "| run | rows folded | fold | fold + all 11 metrics |",
        "|---:|---:|---:|---:|",
        *(
            f"| {n} | {rows:,} | {fold * 1000:.0f} ms | {total * 1000:.0f} ms |"
            for n, (fold, total, rows) in enumerate(runs, 1)
        ),
        f"| median | | {statistics.median(r[0] for r in runs) * 1000:.0f} ms "
        f"| **{statistics.median(r[1] for r in runs) * 1000:.0f} ms** |",
        "",
    ]


def compute_only(args, report: list[str], jakarta) -> None:
    """Each metric computed from the rollups of the last run (nothing new to fold), on the day
    after the seeded history: median of --repeat runs per metric, and all 11 together."""
    import cProfile
    import pstats

    import time_machine

    from metrics_cache.registry import METRICS, RunContext

    day = date(2026, 11, 26)
    profiler = cProfile.Profile() if args.profile else None
    per_metric: dict[str, list[float]] = {m.name: [] for m in METRICS}
    totals: list[float] = []
    with time_machine.travel(datetime(2026, 11, 26, 0, 5, tzinfo=jakarta), tick=True):
        for _ in range(args.repeat):
            ctx = RunContext(day)
            for name in ("visits", "loans"):
                assert ctx.from_rollups(name), f"the {name} rollups are not built: run without"
            started = time.perf_counter()
            for metric in METRICS:
                began = time.perf_counter()
                if profiler:
                    profiler.enable()
                metric.compute(ctx, metric.period(ctx.today))
                if profiler:
                    profiler.disable()
                per_metric[metric.name].append(time.perf_counter() - began)
            totals.append(time.perf_counter() - started)
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(40)
    report += [
        f"### All 11 metrics from the rollups (median of {args.repeat})",
        "",
        "| metric | median | min |",
        "|---|---:|---:|",
    ]
    for name, times in per_metric.items():
        report.append(
            f"| {name} | {statistics.median(times) * 1000:.0f} ms | {min(times) * 1000:.0f} ms |"
        )
    report += [
        f"| **all 11** | **{statistics.median(totals) * 1000:.0f} ms** "
        f"| {min(totals) * 1000:.0f} ms |",
        "",
    ]


def cache_miss(args, report: list[str], jakarta) -> None:
    """/api/visitors/today with nothing cached: the count a request runs, before (a scan of
    visitor_count) and now (today's rollup and the rows above its watermark), with 100 new
    check-ins not folded yet."""
    import time_machine
    from django.db import connections

    from bench.common import counters
    from metrics_cache import today
    from visitors.selectors import visits_today_exact

    library = connections["library"]
    day = date(2026, 11, 25)
    with writer(args.database) as conn:
        conn.cursor().executemany(
            "INSERT INTO visitor_count (member_name, checkin_date) VALUES (%s, %s)",
            [(f"Miss {n}", f"2026-11-25 15:{n % 60:02d}:00") for n in range(100)],
        )
    rows = []
    with time_machine.travel(datetime(2026, 11, 25, 16, 0, tzinfo=jakarta), tick=True):
        for label, count in (
            ("scanning visitor_count (before)", lambda: visits_today_exact(today=day)[0]),
            ("today's rollup + rows above the watermark", lambda: today.count_without_folding(day)),
        ):
            times, reads = [], 0
            for _ in range(5):
                library.close()
                before = counters(library)
                started = time.perf_counter()
                total = count()
                times.append(time.perf_counter() - started)
                after = counters(library)
                reads = sum(after[k] - before[k] for k in after if k.startswith("Handler_read"))
            rows.append((label, statistics.median(times), reads, total))
    assert rows[0][3] == rows[1][3], rows
    report += [
        "### Today's count on a cache miss (100 check-ins not folded yet)",
        "",
        "| how | median of 5 | rows read on SLiMS (Handler_read_*) | count |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {wall * 1000:.1f} ms | {reads:,} | {total:,} |"
            for label, wall, reads, total in rows
        ),
        "",
    ]


def import_block(args, report: list[str], jakarta) -> None:
    """An import of old-dated rows lands above today's: the first tick's count and time."""
    import time_machine

    from metrics_cache import rollups, today
    from visitors import rollups as visit_rollups

    with time_machine.travel(datetime(2026, 11, 25, 14, 0, tzinfo=jakarta), tick=True):
        exact_before = today.exact_today(date(2026, 11, 25))
        with writer(args.database) as conn:
            cursor = conn.cursor()
            cursor.execute(
                "INSERT INTO visitor_count (member_id, member_name, institution, checkin_date) "
                "SELECT member_id, member_name, institution, "
                "checkin_date - INTERVAL 3 YEAR FROM visitor_count ORDER BY visitor_id "
                f"LIMIT {args.import_rows}"
            )
            cursor.execute(
                "INSERT INTO visitor_count (member_name, checkin_date) "
                "VALUES ('After import', '2026-11-25 13:59:00')"
            )
        started = time.perf_counter()
        state = rollups.live_state("visits")
        count = today.count_from_rollups(date(2026, 11, 25), state).total
        first_tick = time.perf_counter() - started
        assert count == exact_before + 1, (count, exact_before)
        ticks = 1
        started = time.perf_counter()
        while rollups.fold(visit_rollups.SOURCE, state, budget_seconds=2).caught_up is False:
            ticks += 1
        catch_up = time.perf_counter() - started
    report += [
        f"### Today's count after an import block of {args.import_rows:,} old-dated rows",
        "",
        f"First tick after the import: {first_tick:.2f} s, count {count} (exact: "
        f"{exact_before} + 1 afternoon check-in). The rollups folded the block in "
        f"{catch_up:.1f} s over {ticks} more ticks' worth of folding.",
        "",
    ]


if __name__ == "__main__":
    main()
