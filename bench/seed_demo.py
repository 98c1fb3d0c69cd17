"""Times `manage.py seed_demo` on MariaDB at benchmark sizes; prints a Markdown table.

    python -m bench.seed_demo [--mysql mysql://root@127.0.0.1:3306] [--sizes 1000000 5000000]

Each size seeds its own database (bench_slims_<n>), which later benchmarks reuse.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import MySQLdb

from bench.harness.processes import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed_demo")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = parser.parse_args()

    rows = []
    for visitors in args.sizes:
        name = f"bench_slims_{visitors // 1_000_000}m" if visitors >= 1_000_000 else "bench_slims"
        connection = MySQLdb.connect(host="127.0.0.1", user="root")
        connection.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        connection.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8")
        connection.close()
        # The benchmark shape: 5 M visits / 1 M loans / 200 k items; scaled for smaller.
        scale = visitors / 5_000_000
        command = [
            sys.executable,
            "manage.py",
            "seed_demo",
            f"--visitors={visitors}",
            f"--loans={int(1_000_000 * scale)}",
            f"--items={int(200_000 * scale)}",
            f"--titles={int(80_000 * scale)}",
            f"--members={int(40_000 * scale)}",
            "--years=5",
            "--seed=2026",
            "--now=2026-11-25T12:00:00",
        ]
        env = {
            **os.environ,
            "LIBRARY_DATABASE_URL": f"{args.mysql}/{name}",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        }
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(result.stderr)
        print(result.stdout, file=sys.stderr)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows.append((visitors, wall, rss_mb, name))

    print("| visits | loans | items | wall time | peak RSS | database |")
    print("|---:|---:|---:|---:|---:|---|")
    for visitors, wall, rss_mb, name in rows:
        scale = visitors / 5_000_000
        print(
            f"| {visitors:,} | {int(1_000_000 * scale):,} | {int(200_000 * scale):,} "
            f"| {wall:.0f} s | {rss_mb:.0f} MB | {name} |"
        )


if __name__ == "__main__":
    main()
