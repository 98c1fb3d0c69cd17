"""The fast loop's tick on a benchmark library: direct against delta, in process.

    python -m bench.fast_loop [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
                              [--redis-url redis://127.0.0.1:6379/20] [--own-redis-port 6390]
                              [--data-dir var/bench-live] [--day 2026-11-25] [--runs 20]
                              [--direct-runs 5] [--new-rows 10]

With `--day` passed to the count functions: the direct count; the delta count as the first tick
of the day (its Redis state deleted first: an exact baseline through primary-key bisection); the
delta count in steady state with no new rows; and after --new-rows rows dated `day` were
inserted between ticks. Rows examined are the deltas of MariaDB's Handler_read_* counters
(first/key/last/next/prev/rnd/rnd_next, summed; Rows_read too) on the `library` connection. The
delta total is checked against the direct count at the end. The rows inserted are marked and
deleted afterwards (bench/harness/visits.py). Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date, datetime, timedelta

from bench.harness.live_service import add_arguments as add_service_arguments
from bench.harness.live_service import header, live_service
from bench.harness.mariadb import HANDLER_READS, connection_id, measure, reading_overhead
from bench.harness.report import command_line, log, percentile
from bench.harness.services import signals_end_the_run
from bench.harness.visits import MarkedVisits

EXTRA_COUNTERS = ("Rows_read",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=date(2026, 11, 25),
        help="'today' for the ticks (the last day with data in bench_slims_5m)",
    )
    parser.add_argument("--runs", type=int, default=20, help="runs per delta case")
    parser.add_argument("--direct-runs", type=int, default=5)
    parser.add_argument("--new-rows", type=int, default=10, help="rows inserted between ticks")


def run(args: argparse.Namespace, visits: MarkedVisits) -> dict:
    from django.db import connections

    from metrics_cache.base import keys
    from metrics_cache.base.redis import client
    from metrics_cache.today import modes

    day = args.day
    connection = connections["library"]
    connection.ensure_connection()
    session = connection_id(connection)
    overhead = reading_overhead(connection, EXTRA_COUNTERS)
    redis = client()
    direct, delta = modes.Direct(), modes.Delta()
    cases: dict[str, list[dict]] = {}

    def case(label: str, count: int, call, before=None) -> None:
        cases[label] = []
        for index in range(count):
            if before is not None:
                before(index)
            sample = measure(call, connection, overhead, EXTRA_COUNTERS)
            sample["total"] = sample.pop("result").total
            cases[label].append(sample)
            log(
                f"{label:<32} run {index + 1:>2}: {sample['wall_ms']:9.1f} ms "
                f"{sample['examined']:>11,} rows examined  total {sample['total']:,}"
            )

    case("direct", args.direct_runs, lambda: direct.tick(day))
    case(
        "delta, first tick of the day",
        args.runs,
        lambda: delta.tick(day),
        before=lambda index: redis.delete(keys.today_delta_state()),
    )
    case("delta, steady, no new rows", args.runs, lambda: delta.tick(day))

    # New rows dated `day`, after its last row (the table ends at --day's noon), one second apart.
    with connection.cursor() as cursor:
        cursor.execute("SELECT MAX(checkin_date) FROM visitor_count")
        latest = cursor.fetchone()[0]
    latest = latest.replace(tzinfo=None) if latest.tzinfo else latest
    start = max(latest, datetime.combine(day, datetime.min.time()))
    clock = {"seconds": 0}

    def insert_rows(index: int) -> None:
        for _ in range(args.new_rows):
            clock["seconds"] += 1
            moment = start + timedelta(seconds=clock["seconds"])
            if moment.date() != day:
                raise RuntimeError(f"--new-rows would date a row {moment}, past {day}")
            visits.insert(moment)

    new_rows = f"delta, steady, {args.new_rows} new rows"
    case(new_rows, args.runs, lambda: delta.tick(day), before=insert_rows)
    if connection_id(connection) != session:
        raise RuntimeError("the library connection was replaced during the fast-loop runs")
    return {
        "day": day,
        "cases": cases,
        "overhead": overhead,
        "delta_total": cases[new_rows][-1]["total"],
        "direct_total": direct.tick(day).total,
        "inserted": len(visits.ids),
    }


def table(bench: dict) -> str:
    cases = bench["cases"]
    direct_ms = statistics.median(sample["wall_ms"] for sample in cases["direct"])
    direct_rows = statistics.median(sample["examined"] for sample in cases["direct"])
    lines = [
        "| tick | runs | statements | wall ms (median) | wall ms (p95) | wall ms (min-max) "
        "| rows examined (Handler_read_*, median) | non-zero Handler_read_* (median) "
        "| Rows_read (median) | direct / this, wall | direct / this, rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, samples in cases.items():
        walls = [sample["wall_ms"] for sample in samples]
        examined = [sample["examined"] for sample in samples]

        def median_of(name: str, samples=samples) -> float:
            return statistics.median(sample["counters"][name] for sample in samples)

        breakdown = ", ".join(
            f"{name.removeprefix('Handler_read_')} {median_of(name):,.0f}"
            for name in HANDLER_READS
            if median_of(name)
        )
        median_ms = statistics.median(walls)
        median_rows = statistics.median(examined)
        examined_text = f"{median_rows:,.0f}"
        if min(examined) != max(examined):
            examined_text += f" ({min(examined):,}-{max(examined):,})"
        lines.append(
            f"| {label} | {len(samples)} "
            f"| {statistics.median(sample['statements'] for sample in samples):.0f} "
            f"| {median_ms:,.2f} | {percentile(walls, 95):,.2f} "
            f"| {min(walls):,.2f}-{max(walls):,.2f} | {examined_text} "
            f"| {breakdown} "
            f"| {median_of('Rows_read'):,.0f} "
            f"| {direct_ms / median_ms:,.0f}x "
            f"| {direct_rows / median_rows if median_rows else float('inf'):,.0f}x |"
        )
    return "\n".join(lines)


def report(bench: dict) -> str:
    same = "equal" if bench["delta_total"] == bench["direct_total"] else "DIFFERENT"
    return (
        f"## Fast loop: direct vs delta ({bench['day'].isoformat()} as today)\n\n"
        f"{table(bench)}\n\n"
        f"After the runs the delta count was {bench['delta_total']:,} and the direct count "
        f"{bench['direct_total']:,} ({same}); {bench['inserted']} rows were inserted and "
        f"deleted. Counter reads by the measurement itself, subtracted: "
        f"{sum(bench['overhead'][name] for name in HANDLER_READS)} Handler_read_*."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fast_loop",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args()
    signals_end_the_run()
    with live_service(args) as live:
        try:
            bench = run(args, live.visits)
        finally:
            live.visits.delete_all()
        print(header(live, args, command_line("bench.fast_loop")))
    print()
    print(report(bench))


if __name__ == "__main__":
    main()
