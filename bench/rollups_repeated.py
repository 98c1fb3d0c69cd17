"""bench/rollups.py --nightly-only and --compute-only: repeated runs on the rollups built."""

from __future__ import annotations

import statistics
import time

from bench.rollups_setup import NEXT_DAY, NIGHTLY_RUN, insert_one_day


def nightly_runs(args, report: list[str]) -> None:
    """--repeat nightly runs on the last run's rollups, each after one more day of new rows:
    the fold of both tables, then every metric, as the daily jobs make it."""
    import time_machine
    from django.db import connections

    from metrics_cache.rollups import jobs
    from metrics_cache.rollups.sources import sources
    from metrics_cache.snapshots.context import RunContext
    from metrics_cache.snapshots.registry import METRICS

    runs: list[tuple[float, float, int]] = []
    for _ in range(args.repeat):
        insert_one_day(args.database)
        connections["library"].close()
        with time_machine.travel(NIGHTLY_RUN, tick=True):
            started = time.perf_counter()
            ctx = RunContext(NEXT_DAY)
            rows = sum(jobs.catch_up(name).rows for name in sources())
            folded = time.perf_counter()
            ctx._ready.update(dict.fromkeys(sources(), True))
            for metric in METRICS:
                metric.compute(ctx, metric.period(ctx.today))
            runs.append((folded - started, time.perf_counter() - started, rows))
    report += [
        f"### Nightly run on the rollups, {args.repeat} times (a day of new rows each)",
        "",
        f"| run | rows folded | fold | fold + all {len(METRICS)} metrics |",
        "|---:|---:|---:|---:|",
        *(
            f"| {n} | {rows:,} | {fold * 1000:.0f} ms | {total * 1000:.0f} ms |"
            for n, (fold, total, rows) in enumerate(runs, 1)
        ),
        f"| median | | {statistics.median(r[0] for r in runs) * 1000:.0f} ms "
        f"| **{statistics.median(r[1] for r in runs) * 1000:.0f} ms** |",
        "",
    ]


def compute_runs(args, report: list[str]) -> None:
    """Each metric computed from the rollups of the last run (nothing new to fold), on the day
    after the seeded history: median of --repeat runs per metric, and all of them together;
    --profile writes cProfile's stats of the metrics' computation."""
    import cProfile
    import pstats

    import time_machine

    from metrics_cache.snapshots.context import RunContext
    from metrics_cache.snapshots.registry import METRICS

    profiler = cProfile.Profile() if args.profile else None
    per_metric: dict[str, list[float]] = {m.name: [] for m in METRICS}
    totals: list[float] = []
    with time_machine.travel(NIGHTLY_RUN, tick=True):
        for _ in range(args.repeat):
            ctx = RunContext(NEXT_DAY)
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
        f"### All {len(METRICS)} metrics from the rollups (median of {args.repeat})",
        "",
        "| metric | median | min |",
        "|---|---:|---:|",
    ]
    for name, times in per_metric.items():
        report.append(
            f"| {name} | {statistics.median(times) * 1000:.0f} ms | {min(times) * 1000:.0f} ms |"
        )
    report += [
        f"| **all {len(METRICS)}** | **{statistics.median(totals) * 1000:.0f} ms** "
        f"| {min(totals) * 1000:.0f} ms |",
        "",
    ]
