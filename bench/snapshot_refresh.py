"""The daily snapshot refresh on a benchmark library, metric by metric, in process.

    python -m bench.snapshot_refresh [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
                                     [--redis-url redis://127.0.0.1:6379/10] [--data-dir var/bench]
                                     [--runs 3] [--today YYYY-MM-DD]

Each group (visitors, books) in registry order with one shared RunContext per group, as the
daily job's refresh runs it, but timed metric by metric. Rows examined are the deltas of
MariaDB's Handler_read_* counters (first, key, last, next, prev, rnd, rnd_next) on the `library`
connection, read before and after each metric. Repeated --runs times; the median per metric is
printed, and each group also runs once per repetition through the refresh itself as a
cross-check. The service's own tables start empty (DATA_DIR), so no rollup is built and the
metrics are computed by scanning the library's tables. The library database is only read.
Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from bench.harness.environment import start_django
from bench.harness.machine import describe, machine
from bench.harness.mariadb import HANDLER_READS, connection_id, measure, reading_overhead, version
from bench.harness.processes import ROOT
from bench.harness.report import log, spread

# MariaDB only (0 elsewhere): rows read from base tables / from temporary tables.
EXTRA_COUNTERS = ("Rows_read", "Rows_tmp_read", "Created_tmp_disk_tables")


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags bench/snapshot_refresh.py and bench/snapshot_endpoint.py share."""
    parser.add_argument(
        "--database-url",
        default="mysql://root@127.0.0.1:3306/bench_slims_5m",
        help="the library database (LIBRARY_DATABASE_URL); only read",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--data-dir",
        default=str(ROOT / "var" / "bench"),
        help="DATA_DIR: the service's own SQLite database and daphne's log",
    )


def environment(args: argparse.Namespace, port: int = 8000) -> dict[str, str]:
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "LIBRARY_DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DATA_DIR": str(Path(args.data_dir).resolve()),
        "WEB_PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # One load generator is one client address: measure serving, not the throttle.
        "THROTTLE_ANON_RATE": os.environ.get("THROTTLE_ANON_RATE", "1000000/s"),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the daily refresh")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the refresh's today (default: the library's local date)",
    )


def measure_metric(metric, ctx, connection, overhead: dict[str, int]) -> dict:
    from metrics_cache.snapshots.refresh import compute

    sample = measure(lambda: compute(metric, ctx), connection, overhead, EXTRA_COUNTERS)
    result = sample.pop("result")
    return {
        "metric": metric.name,
        "group": metric.group,
        "status": result.status,
        "error": result.error,
        "rows": result.rows,
        **sample,
    }


def run(runs: int, today: date) -> dict:
    from django.db import connections

    from metrics_cache.snapshots.context import RunContext
    from metrics_cache.snapshots.refresh import refresh
    from metrics_cache.snapshots.registry import GROUPS, in_group

    connection = connections["library"]
    connection.ensure_connection()
    overhead = reading_overhead(connection, EXTRA_COUNTERS)
    per_run: list[list[dict]] = []
    refresh_ms: dict[str, list[float]] = {group: [] for group in GROUPS}
    for number in range(1, runs + 1):
        measured = []
        for group in GROUPS:
            ctx = RunContext(today)
            session = connection_id(connection)
            for metric in in_group(group):
                measured.append(measure_metric(metric, ctx, connection, overhead))
                log(
                    f"run {number} {metric.name:<20} {measured[-1]['wall_ms']:9.0f} ms "
                    f"{measured[-1]['examined']:>12,} rows examined  {measured[-1]['status']}"
                )
            if connection_id(connection) != session:
                sys.exit(f"the library connection was replaced during group {group}")
        per_run.append(measured)
        # Cross-check: the same groups through the refresh itself (the daily job's call; it
        # uses timezone.localdate(), which is `today` unless --today says otherwise).
        for group in GROUPS:
            names = [metric.name for metric in in_group(group)]
            started = time.perf_counter()
            results = refresh(names, force=True)
            refresh_ms[group].append((time.perf_counter() - started) * 1000)
            failed = [result.metric for result in results if result.status != "ok"]
            if failed:
                log(f"refresh({group}) failed for {failed}")
            log(f"run {number} refresh({group}) {refresh_ms[group][-1]:9.0f} ms")
    return {"overhead": overhead, "runs": per_run, "refresh_ms": refresh_ms}


def metric_rows(runs: list[list[dict]]) -> list[str]:
    lines = []
    for index, first in enumerate(runs[0]):
        samples = [run[index] for run in runs]
        walls = [sample["wall_ms"] for sample in samples]
        examined = [sample["examined"] for sample in samples]

        def median_of(counter: str, samples=samples) -> float:
            return statistics.median(sample["counters"][counter] for sample in samples)

        statuses = {sample["status"] for sample in samples}
        rows = "-" if first["rows"] is None else str(first["rows"])
        if statuses != {"ok"}:
            rows += f" ({'/'.join(sorted(statuses))})"
        examined_text = f"{statistics.median(examined):,.0f}"
        if len(set(examined)) > 1:
            examined_text += f" ({spread(examined)})"
        lines.append(
            f"| {first['group']} | {first['metric']} | {rows} "
            f"| {statistics.median(s['statements'] for s in samples):.0f} "
            f"| {statistics.median(walls):,.0f} | {spread(walls)} | {examined_text} "
            f"| {median_of('Handler_read_rnd_next'):,.0f} | {median_of('Rows_read'):,.0f} "
            f"| {median_of('Rows_tmp_read'):,.0f} | {median_of('Created_tmp_disk_tables'):.0f} |"
        )
    return lines


def group_rows(bench: dict) -> list[str]:
    runs = bench["runs"]
    group_totals: dict[str, list[tuple[float, int, int]]] = {}
    for run in runs:
        for group in dict.fromkeys(sample["group"] for sample in run):
            samples = [sample for sample in run if sample["group"] == group]
            group_totals.setdefault(group, []).append(
                (
                    sum(sample["wall_ms"] for sample in samples),
                    sum(sample["examined"] for sample in samples),
                    sum(sample["statements"] for sample in samples),
                )
            )
    lines = []
    for group, totals in group_totals.items():
        walls = [total[0] for total in totals]
        count = sum(1 for sample in runs[0] if sample["group"] == group)
        lines.append(
            f"| {group} | {count} | {statistics.median(t[2] for t in totals):.0f} "
            f"| {statistics.median(walls):,.0f} | {spread(walls)} "
            f"| {statistics.median(bench['refresh_ms'][group]):,.0f} "
            f"| {statistics.median(t[1] for t in totals):,.0f} |"
        )
    all_runs = [
        tuple(sum(totals[index][i] for totals in group_totals.values()) for i in range(3))
        for index in range(len(runs))
    ]
    walls = [total[0] for total in all_runs]
    refresh_all = [sum(values) for values in zip(*bench["refresh_ms"].values(), strict=True)]
    lines.append(
        f"| **both** | {len(runs[0])} | {statistics.median(t[2] for t in all_runs):.0f} "
        f"| {statistics.median(walls):,.0f} | {spread(walls)} "
        f"| {statistics.median(refresh_all):,.0f} "
        f"| {statistics.median(t[1] for t in all_runs):,.0f} |"
    )
    return lines


def report(bench: dict, runs: int, today: date, source: str) -> str:
    overhead = bench["overhead"]
    lines = [
        f"### Daily refresh: {runs} runs, today = {today.isoformat()} ({source})",
        "",
        "| group | metric | result rows | statements | wall ms (median) | wall ms (min-max) "
        "| rows examined (Handler_read_*) | full-scan reads (rnd_next) "
        "| base-table rows (Rows_read) | temp-table reads (Rows_tmp_read) | tmp tables on disk |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *metric_rows(bench["runs"]),
        "",
        "| group | metrics | statements | wall ms (median) | wall ms (min-max) "
        "| refresh wall ms (median) | rows examined (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *group_rows(bench),
        "",
        "Counter reads made by the measurement itself, subtracted: "
        f"{sum(overhead[name] for name in HANDLER_READS)} Handler_read_*, "
        + ", ".join(f"{overhead[name]} {name}" for name in EXTRA_COUNTERS)
        + " per metric.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.snapshot_refresh",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args()
    start_django(environment(args))
    from django.db import connections
    from django.utils import timezone

    today = args.today or timezone.localdate()
    info = {**machine(), "mariadb": version(connections["library"])}
    bench = run(args.runs, today)
    print(describe(info))
    print(f"Library database: `{args.database_url}`; Redis `{args.redis_url}`.")
    print()
    source = "--today" if args.today else "the library's local date"
    print(report(bench, args.runs, today, source))


if __name__ == "__main__":
    main()
