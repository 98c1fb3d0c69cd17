"""bench/rollups.py's parts on today's count: a cache miss, and the first tick after an import."""

from __future__ import annotations

import statistics
import time
from datetime import datetime

from bench.harness.mariadb import handler_reads
from bench.rollups_setup import JAKARTA, LAST_DAY, writer


def cache_miss(args, report: list[str]) -> None:
    """/api/visitors/today with nothing cached: the count a request runs, by a scan of
    visitor_count and from today's rollup and the rows above its watermark, with 100 new
    check-ins not folded yet."""
    import time_machine
    from django.db import connections

    from metrics_cache.today.counting import count_without_folding
    from visitors.selectors import visits_today_exact

    library = connections["library"]
    with writer(args.database) as conn:
        conn.cursor().executemany(
            "INSERT INTO visitor_count (member_name, checkin_date) VALUES (%s, %s)",
            [(f"Miss {n}", f"2026-11-25 15:{n % 60:02d}:00") for n in range(100)],
        )
    rows = []
    with time_machine.travel(datetime(2026, 11, 25, 16, 0, tzinfo=JAKARTA), tick=True):
        for label, count in (
            ("scanning visitor_count", lambda: visits_today_exact(today=LAST_DAY)[0]),
            ("today's rollup + rows above the watermark", lambda: count_without_folding(LAST_DAY)),
        ):
            times, reads = [], 0
            for _ in range(5):
                library.close()
                before = handler_reads(library)
                started = time.perf_counter()
                total = count()
                times.append(time.perf_counter() - started)
                reads = handler_reads(library) - before
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


def import_block(args, report: list[str]) -> None:
    """An import of old-dated rows lands above today's: the first tick's count and time."""
    import time_machine

    from metrics_cache.rollups import engine
    from metrics_cache.rollups.sources import sources
    from metrics_cache.today.counting import count_from_rollups, exact_today

    with time_machine.travel(datetime(2026, 11, 25, 14, 0, tzinfo=JAKARTA), tick=True):
        exact_before = exact_today(LAST_DAY)
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
        state = engine.live_state("visits")
        count = count_from_rollups(LAST_DAY, state).total
        first_tick = time.perf_counter() - started
        assert count == exact_before + 1, (count, exact_before)
        ticks = 1
        started = time.perf_counter()
        visits = sources()["visits"]
        while engine.fold(visits, state, budget_seconds=2).caught_up is False:
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
