"""Rollups on a seeded SLiMS database: first build, a nightly run against scanning, and today's
count on a cache miss.

    python -m bench.rollups [--database bench_slims_5m] [--import-rows N] [--reuse]
                            [--nightly-only | --compute-only [--profile FILE] | --import-only]
                            [--repeat 5]

The database comes from bench/seed_demo.py (history up to 2026-11-25 12:00). The service's own
tables go to a fresh SQLite file (var/bench-rollups-<database>.sqlite3), as in the default
install; --reuse, --nightly-only, --compute-only and --import-only keep the last run's. Writes
to the bench database (a day of new rows, the import block) go through root, never through the
service's read-only connection. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

from bench import rollups_repeated, rollups_today
from bench.harness.machine import machine
from bench.harness.mariadb import handler_reads
from bench.harness.report import percentile
from bench.rollups_setup import JAKARTA, NEXT_DAY, NIGHTLY_RUN, insert_one_day, setup


def first_build(report: list[str], *, reuse: bool) -> None:
    """Every row of visitor_count and loan folded from id 0 (nothing to do with --reuse), then
    the rows an earlier run's nightly step added."""
    import time_machine

    from metrics_cache.rollups import engine, jobs
    from metrics_cache.rollups.sources import sources

    with time_machine.travel(datetime(2026, 11, 25, 12, 30, tzinfo=JAKARTA), tick=True):
        statements: list[float] = []
        started = time.perf_counter()
        for source in sources().values():
            state = engine.ensure_live(source)
            while state.built_at is None:
                result = engine.fold(
                    source, state, budget_seconds=10, pause_seconds=engine.BUILD_PAUSE_SECONDS
                )
                statements += result.statements_ms
        build_s = time.perf_counter() - started
        for name in sources():
            jobs.catch_up(name)
        rows = sum(engine.live_state(name).rows_folded for name in sources())
    if reuse:
        return
    report += [
        "### First build",
        "",
        "| rows folded | wall time | rows/s | chunks | statement p50 | p99 | longest |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {rows:,} | {build_s:.1f} s | {rows / build_s:,.0f} | {len(statements):,} "
        f"| {statistics.median(statements):.1f} ms | {percentile(statements, 99):.1f} ms "
        f"| {max(statements):.1f} ms |",
        "",
    ]


def nightly_against_scanning(report: list[str]) -> None:
    """At 00:05 after a day of new rows: fold them and compute all metrics from the rollups,
    then compute them all again by scanning SLiMS; both must give the same snapshots."""
    import time_machine
    from django.db import connections

    from metrics_cache.rollups import jobs
    from metrics_cache.rollups.sources import sources
    from metrics_cache.snapshots.context import RunContext
    from metrics_cache.snapshots.registry import METRICS

    library = connections["library"]

    class ScanContext(RunContext):
        def from_rollups(self, source: str) -> bool:
            return False

    def all_metrics(ctx):
        return {m.name: m.compute(ctx, m.period(ctx.today)) for m in METRICS}

    def nightly(context_class, label):
        library.close()
        before = handler_reads(library)
        started = time.perf_counter()
        ctx = context_class(NEXT_DAY)
        fold_rows = 0
        longest = 0.0
        if context_class is RunContext:
            for name in sources():
                result = jobs.catch_up(name)
                fold_rows += result.rows
                longest = max(longest, result.longest_statement_ms)
                ctx._ready[name] = True
        data = all_metrics(ctx)
        wall = time.perf_counter() - started
        reads = handler_reads(library) - before
        return label, wall, fold_rows, reads, longest, data

    with time_machine.travel(NIGHTLY_RUN, tick=True):
        rolled = nightly(RunContext, "from the rollups (fold new rows, then compute)")
        scanned = nightly(ScanContext, "scanning SLiMS")
        started = time.perf_counter()
        again = all_metrics(RunContext(NEXT_DAY))
        compute_s = time.perf_counter() - started
        assert rolled[5] == scanned[5], "rollups and the full recount disagree"
        assert again == rolled[5]
    report += [
        f"### Nightly refresh, one day of new rows (2,740 visits, 548 loans), all {len(METRICS)} "
        "metrics",
        "",
        "| how | wall time | rows folded | rows read on SLiMS (Handler_read_*) "
        "| longest fold read |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, wall, fold_rows, reads, longest, _ in (rolled, scanned):
        report.append(f"| {label} | {wall:.2f} s | {fold_rows:,} | {reads:,} | {longest:.1f} ms |")
    report += [
        "",
        f"Ratio scan / rollups: {scanned[1] / rolled[1]:.1f} times. All {len(METRICS)} metrics "
        f"from the rollups with nothing new to fold: {compute_s:.2f} s. The two ways gave "
        "identical snapshots.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rollups",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    report = [f"Machine: {machine()}", f"Database: {args.database}", ""]
    if args.import_only:
        rollups_today.import_block(args, report)
    elif args.nightly_only:
        rollups_repeated.nightly_runs(args, report)
    elif args.compute_only:
        rollups_repeated.compute_runs(args, report)
    else:
        first_build(report, reuse=args.reuse)
        insert_one_day(args.database)
        nightly_against_scanning(report)
        rollups_today.cache_miss(args, report)
        if args.import_rows:
            rollups_today.import_block(args, report)
    print("\n".join(report))


if __name__ == "__main__":
    main()
