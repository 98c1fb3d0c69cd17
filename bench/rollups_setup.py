"""What bench/rollups.py and its parts share: the service set up on a seeded library, its dates,
and the rows a run writes to the library through root."""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bench.harness.mariadb import connect
from bench.harness.processes import ROOT

# bench/seed_demo.py's history ends on 2026-11-25 at 12:00, library local time.
JAKARTA = ZoneInfo("Asia/Jakarta")
LAST_DAY = date(2026, 11, 25)
NEXT_DAY = date(2026, 11, 26)
NIGHTLY_RUN = datetime(2026, 11, 26, 0, 5, tzinfo=JAKARTA)
VISITS_PER_DAY, LOANS_PER_DAY = 2_740, 548


def setup(database: str, *, fresh: bool) -> None:
    """Django on `database` (MariaDB on 127.0.0.1, as root) with the service's own tables in
    var/bench-rollups-<database>.sqlite3, as in the default install; `fresh` starts that file
    anew (no rollups built)."""
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
    """A root connection for the run's own rows (never the service's read-only connection)."""
    return connect(f"mysql://root@127.0.0.1:3306/{database}")


def insert_one_day(database: str) -> None:
    """One average day of new rows dated LAST_DAY."""
    with writer(database) as conn:
        cursor = conn.cursor()
        cursor.executemany(
            "INSERT INTO visitor_count (member_id, member_name, institution, checkin_date) "
            "VALUES (%s, %s, %s, %s)",
            [
                (None if n % 4 == 0 else f"M{n % 40000:06d}", f"Visitor {n}", "Umum",
                 f"2026-11-25 {8 + n * 12 // VISITS_PER_DAY:02d}:{n % 60:02d}:00")
                for n in range(VISITS_PER_DAY)
            ],
        )  # fmt: skip
        cursor.execute("SELECT item_code FROM item ORDER BY item_id LIMIT 500")
        codes = [row[0] for row in cursor.fetchall()]
        cursor.executemany(
            "INSERT INTO loan (item_code, member_id, loan_date, due_date) VALUES (%s, %s, %s, %s)",
            [
                (codes[n % len(codes)], f"M{n % 40000:06d}", "2026-11-25", "2026-12-02")
                for n in range(LOANS_PER_DAY)
            ],
        )
