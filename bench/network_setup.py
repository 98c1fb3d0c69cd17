"""The network bench.network measures: its libraries, their LIBRARIES_FILE, their SLiMS
databases on MariaDB (seeded once, reused), and the environment of the service's processes.

Libraries: `sch-001`…`sch-<n>` (small schools, visits spread evenly from 10 k to 100 k) and
`big-1`…`big-<k>` (1 M visits each); members, titles, items and loans scaled from DemoSize as
seed_demo scales the demo network. Each is seeded into its own database `bench_net_<slug>`
(`-` written `_`), which later runs reuse unless --reseed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.harness.processes import ROOT
from bench.harness.report import log

MYSQL = "mysql://root@127.0.0.1:3306"
SMALL_MIN, SMALL_MAX = 10_000, 100_000
# Indonesia's three zones: most schools on western time, some central, a few eastern.
ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
# Written into a library's database once its seeding is over: a half-seeded one is seeded again.
DONE_TABLE = "bench_net_seeded"
SEED = 2026


@dataclass(frozen=True)
class NetLibrary:
    slug: str
    visits: int
    zone: str
    index: int

    @property
    def database(self) -> str:
        return f"bench_net_{self.slug.replace('-', '_')}"

    @property
    def url(self) -> str:
        return f"{MYSQL}/{self.database}"


def network(
    small: int,
    large: int,
    large_visits: int = 1_000_000,
    prefix: str = "sch",
    small_min: int = SMALL_MIN,
    small_max: int = SMALL_MAX,
) -> list[NetLibrary]:
    """The libraries, in the file's order (the first is the home library)."""
    found = []
    for number in range(small):
        visits = small_min + round((small_max - small_min) * number / max(1, small - 1))
        zone = ZONES[2] if number % 25 == 24 else ZONES[1] if number % 10 == 9 else ZONES[0]
        found.append(NetLibrary(f"{prefix}-{number + 1:03d}", visits, zone, len(found)))
    for number in range(large):
        found.append(
            NetLibrary(
                f"{prefix.replace('sch', 'big')}-{number + 1}", large_visits, ZONES[0], len(found)
            )
        )
    return found


def write_libraries_file(libraries: list[NetLibrary], path: Path) -> Path:
    lines = []
    for lib in libraries:
        lines += [
            f"[libraries.{lib.slug}]",
            f'name = "Perpustakaan {lib.slug}"',
            f'database_url = "{lib.url}"',
            f'time_zone = "{lib.zone}"',
            'count_mode = "delta"',
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def service_env(libraries_file: Path, data_dir: Path, redis_port: int, **extra: str) -> dict:
    """The environment of every process of the service in this bench (DATABASE_URL unset:
    each library's own tables in a SQLite file under DATA_DIR)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "LIBRARY_DATABASE_URL", "MYSQL_HOST", "CELERY_BROKER_URL")
    }
    env.update(
        LIBRARIES_FILE=str(libraries_file),
        DATA_DIR=str(data_dir),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        SECRET_KEY="bench",
        ENV_FILE="/dev/null",
        TODAY_COUNT_MODE="delta",
        DJANGO_SETTINGS_MODULE="config.settings",
        **extra,
    )
    return env


def mysql(database: str | None = None):
    import MySQLdb

    return MySQLdb.connect(
        host="127.0.0.1", user="root", db=database or "", autocommit=True, charset="utf8mb4"
    )


def seeded(connection, lib: NetLibrary) -> bool:
    """Seeded to its size by an earlier run (the marker written once its seeding was over)."""
    cursor = connection.cursor()
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
        (lib.database, DONE_TABLE),
    )
    if cursor.fetchone()[0] != 1:
        return False
    cursor.execute(f"SELECT visits FROM `{lib.database}`.`{DONE_TABLE}`")
    row = cursor.fetchone()
    return row is not None and row[0] == lib.visits


def size_of(lib: NetLibrary):
    from demo.generator import DemoSize

    return DemoSize().scaled(lib.visits / DemoSize().visitors)


def seed_all(
    libraries: list[NetLibrary],
    libraries_file: Path,
    shape: tuple,
    *,
    reseed: bool,
    shards: int = 2,
    timeout: float = 7200,
) -> float | None:
    """Seeds every library not seeded yet (all with `reseed`) in `shards` child processes;
    the wall time, or None when nothing needed seeding."""
    connection = mysql()
    todo = [lib for lib in libraries if reseed or not seeded(connection, lib)]
    connection.close()
    if not todo:
        log(f"all {len(libraries)} library databases already seeded (bench_net_*): reused")
        return None
    rows = sum(lib.visits for lib in todo)
    log(f"seeding {len(todo)} libraries ({rows:,} visits) in {shards} processes")
    env = service_env(
        libraries_file, Path(tempfile.gettempdir()) / "bench-network" / "seed-data", 1
    )
    started = time.monotonic()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.network_setup",
                "--shard",
                f"{shard}/{shards}",
                "--network",
                ",".join(map(str, shape)),
                "--reseed" if reseed else "--missing",
                *[lib.slug for lib in todo],
            ],
            cwd=ROOT,
            env=env,
        )
        for shard in range(shards)
    ]
    try:
        for child in children:
            child.wait(timeout=max(1, timeout - (time.monotonic() - started)))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
    if any(child.returncode for child in children):
        raise RuntimeError("seeding failed (see the output above)")
    return time.monotonic() - started


def _seed_shard(shard: str, slugs: list[str], reseed: bool, shape: tuple) -> None:
    """In a child process, Django set up with the bench's LIBRARIES_FILE: seeds its share,
    the largest first (dealt round-robin by size, so the shards end together)."""
    import django

    django.setup()
    from config.library import by_slug, serving
    from demo.seeding import seed
    from demo.writer import library_writer

    index, count = map(int, shard.split("/"))
    listed = {lib.slug: lib for lib in network(*shape)}
    ordered = sorted((listed[slug] for slug in slugs), key=lambda lib: -lib.visits)
    mine = ordered[index::count]
    admin = mysql()
    for number, lib in enumerate(mine, start=1):
        cursor = admin.cursor()
        if reseed or not seeded(admin, lib):
            cursor.execute(f"DROP DATABASE IF EXISTS `{lib.database}`")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{lib.database}` CHARACTER SET utf8")
        cursor.execute(f"DROP TABLE IF EXISTS `{lib.database}`.`{DONE_TABLE}`")
        library = by_slug(lib.slug)
        now = datetime.now(ZoneInfo(lib.zone)).replace(tzinfo=None, microsecond=0)
        started = time.monotonic()
        with serving(library), library_writer(library.alias) as writer:
            seed(writer, size=size_of(lib), seed=SEED + lib.index, now=now, force=True)
        cursor.execute(
            f"CREATE TABLE `{lib.database}`.`{DONE_TABLE}` (visits INT, seeded_at DATETIME)"
        )
        cursor.execute(
            f"INSERT INTO `{lib.database}`.`{DONE_TABLE}` VALUES (%s, %s)", (lib.visits, now)
        )
        log(
            f"[seed {shard}] {number}/{len(mine)} {lib.slug}: {lib.visits:,} visits in "
            f"{time.monotonic() - started:.1f} s"
        )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.network_setup")
    parser.add_argument("--shard", required=True)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--missing", action="store_true")
    parser.add_argument(
        "--network", required=True, help="small,large,large_visits,prefix,small_min,small_max"
    )
    parser.add_argument("slugs", nargs="+")
    arguments = parser.parse_args()
    small, large, large_visits, prefix, small_min, small_max = arguments.network.split(",")
    shape = (int(small), int(large), int(large_visits), prefix, int(small_min), int(small_max))
    _seed_shard(arguments.shard, arguments.slugs, arguments.reseed, shape)
