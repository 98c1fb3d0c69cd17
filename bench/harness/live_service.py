"""What the live-count benchmarks share: their flags, Redis, settings and their own visits."""

from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from bench.harness import redis_server
from bench.harness.environment import start_django
from bench.harness.machine import machine
from bench.harness.mariadb import version
from bench.harness.processes import ROOT
from bench.harness.visits import MarkedVisits

# The member_name and institution of every visit the benchmark inserts (and then deletes).
MARKER = "bench/live.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default="mysql://root@127.0.0.1:3306/bench_slims_5m",
        help="the library database; the benchmark inserts and then deletes its own rows",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/20",
        help="cache database (Celery's broker is the next one); both are emptied",
    )
    parser.add_argument(
        "--own-redis-port",
        type=int,
        default=6390,
        help="if --redis-url's server has too few databases, start redis-server on this port",
    )
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-live"))
    parser.add_argument(
        "--interval-ms", type=int, default=1000, help="VISITOR_SYNC_MIN_INTERVAL_MS"
    )


@dataclass
class Live:
    env: dict[str, str]
    redis_url: str
    data_dir: Path
    visits: MarkedVisits
    info: dict[str, str]
    started_at: object  # an aware datetime, once Django is set up


@contextlib.contextmanager
def live_service(args: argparse.Namespace):
    """Empties two Redis databases (or starts a private server), sets the service up in delta
    mode on the library database, and yields a Live; at the end deletes the visits inserted and
    stops the private Redis."""
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    private = None
    visits = None
    try:
        redis_url, private = redis_server.two_empty_databases(
            args.redis_url, args.own_redis_port, data_dir
        )
        env = {
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-live"),
            "LIBRARY_DATABASE_URL": args.database_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(data_dir),
            "TODAY_COUNT_MODE": "delta",
            "VISITOR_SYNC_MIN_INTERVAL_MS": str(args.interval_ms),
            "VISITOR_SYNC_BUFFER_MS": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Every client connects from 127.0.0.1: measure the fan-out, not the throttle.
            "THROTTLE_ANON_RATE": os.environ.get("THROTTLE_ANON_RATE", "100000000/min"),
        }
        start_django(env)
        from django.db import connections
        from django.utils import timezone

        info = machine()
        info["mariadb"] = version(connections["library"])
        info["redis"] = redis_server.version(redis_url)
        visits = MarkedVisits(args.database_url, data_dir / "live-inserted-ids.txt", MARKER)
        yield Live(env, redis_url, data_dir, visits, info, timezone.now())
    finally:
        if visits is not None:
            visits.close()
        redis_server.stop_private(private)


def header(live: Live, args: argparse.Namespace, command: str) -> str:
    """The report's first lines: machine, time of the run, command, databases."""
    from django.utils import timezone

    from bench.harness.machine import describe

    local = timezone.localtime(live.started_at)
    return (
        f"{describe(live.info)} Run {live.started_at:%Y-%m-%d %H:%M} UTC "
        f"({local:%Y-%m-%d %H:%M} library local time).\n"
        f"Command: `{command}`\n"
        f"Library database `{args.database_url}`; Redis `{live.redis_url}`."
    )
