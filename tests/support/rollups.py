"""The rollup tests' shared library, clock and oracle.

The oracle for "equal to a full recount from SLiMS" is the scanning selectors (visitors/books
selectors), a separate implementation that reads SLiMS directly; key figures are also counted
by hand in the tests.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import time_machine

from metrics_cache.rollups import jobs
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.registry import METRICS

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


class ScanContext(RunContext):
    """A run that never uses the rollups: the full recount from SLiMS."""

    def from_rollups(self, source: str) -> bool:
        return False


def every_metric(ctx: RunContext) -> dict:
    return {m.name: m.compute(ctx, m.period(ctx.today)) for m in METRICS}


def assert_rollups_match_a_full_recount(day: date) -> None:
    ctx = RunContext(day)
    from_rollups = every_metric(ctx)
    assert ctx.from_rollups("visits") and ctx.from_rollups("loans")
    assert from_rollups == every_metric(ScanContext(day))


def quoted(sql: str) -> str:
    """SQL with SQLite's identifier quotes written as MariaDB's."""
    return sql.replace('"', "`")


def build() -> None:
    while not jobs.build_step():
        pass


def a_library(library) -> None:
    """Members, guests, titles, copies and loans over several years, in date order."""
    library.member("M1", "Ani Wijaya")
    library.member("M2", "Budi Santoso")
    first = library.item(library.biblio("Laskar Pelangi"))
    second = library.item(library.biblio("Bumi Manusia"))
    library.item(None)
    for checkin, member in [
        ("2023-03-01 09:00:00", "M1"),
        ("2025-06-01 10:00:00", "M2"),
        ("2026-02-03 11:00:00", "M1"),
        ("2026-11-02 08:00:00", "M2"),
        ("2026-11-20 08:00:00", "M1"),
        ("2026-11-24 12:00:00", None),
        ("2026-11-25 09:00:00", "M1"),
    ]:
        library.visit(checkin, member_id=member, name="Guest" if member is None else member)
    for loan_date, item, member in [
        ("2024-01-05", first, "M1"),
        ("2026-03-03", second, "M2"),
        ("2026-11-03", first, "M2"),
        ("2026-11-24", second, "M1"),
        ("2026-11-25", first, None),
    ]:
        library.loan(item, member, loan_date)


def library_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "visitor_count" in q["sql"]]
