"""A network of libraries on one deployment: 500 small school libraries and a few large ones on
MariaDB, served by the Procfile's processes with one LIBRARIES_FILE.

    python -m bench.network [--libraries 500] [--large 3] [--large-visits 1000000]
                            [--small-visits 10000:100000] [--reseed]
                            [--phases first-start,ticks,nightly,memory,sse,failover]
                            [--intervals 5000 ...] [--workers 2] [--concurrency 2]
                            [--max-connections N] (--help lists the rest)

Each library's SLiMS tables are seeded once into `bench_net_<slug>` (bench/network_setup.py)
and reused by later runs (--reseed seeds again). The service runs as deployed: web
(`python -m config.web`), --workers Celery workers of --concurrency (prefork) and beat, each
with LIBRARIES_FILE=<work>/libraries-<n>.toml, DATA_DIR=<work>/data-<n> (every library's own
tables in a SQLite file there; DATABASE_URL unset), REDIS_URL on a redis-server of its own,
TODAY_COUNT_MODE=delta. The workers run `--app bench.network_app` (config.celery's app with a
line per task start and end in <work>/tasks-*.log).

Phases (each prints its command line, what it measured and its target):
  first-start  a fresh DATA_DIR and Redis: migrate, start everything, time until every
               library's rollups are built and its count published
  ticks        a check-in inserted into every library at a random time over --tick-window s:
               the delay until the library's count in Redis shows it (per --intervals value)
  nightly      the nightly tasks of every library queued at once: wall time, statements over
               100 ms on MariaDB (slow log), the most statements running at once (PROCESSLIST)
  memory       the web process's RSS with every library against one, /api/libraries latency
  sse          --sse-clients on /api/network/today/stream while every library's count changes
               (published on each library's Redis channel, beat and workers stopped)
  failover     workers a@ and b@ and beat; the nightly run queued, a killed (-9, its process group)
               mid-run: is every library's run done within a minute, did any run on both
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.harness.machine import describe, machine
from bench.harness.processes import ROOT, child_pids, free_port, start_beat, start_redis, wait_for
from bench.harness.report import command_line, log, percentile
from bench.network_setup import (
    NetLibrary,
    mysql,
    network,
    seed_all,
    service_env,
    write_libraries_file,
)
from config.services import LIVE_QUEUE

# A task's end that ran nothing: it left its job to the holder of its library's slot
# (bench.network_app).
HANDED = "end:HANDED"
# A message given back after its job ran (bench.network_app).
RAN = "end:RAN"
PHASES = ("first-start", "ticks", "nightly", "memory", "sse", "failover")
NIGHTLY = (
    ("metrics_cache.refresh_group", ["visitors"]),
    ("metrics_cache.refresh_group", ["books"]),
    ("metrics_cache.fold_rollups", []),
    ("metrics_cache.refresh_circulation", []),
    ("metrics_cache.copy_report_lookups", []),
)
CHECKIN = (
    "INSERT INTO `{db}`.visitor_count (member_id, member_name, institution, room_code, "
    "checkin_date) VALUES (NULL, 'x', NULL, NULL, %s)"
)


def main() -> None:
    args = arguments()
    # Stopped from outside (even started in the background, where SIGINT is ignored): the
    # processes started are stopped and MariaDB's globals restored on the way out.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    small_min, small_max = map(int, args.small_visits.split(":"))
    shape = (args.libraries, args.large, args.large_visits, args.prefix, small_min, small_max)
    libraries = network(*shape)
    files = write_libraries_file(libraries, work / f"libraries-{args.prefix}-{len(libraries)}.toml")
    seed_s = seed_all(
        libraries,
        files,
        shape,
        reseed=args.reseed,
        timeout=args.seed_timeout,
    )
    bench = Bench(args, work, libraries, files)
    report = [
        f"## Network: {args.libraries} + {args.large} libraries",
        "",
        f"`{command_line('bench.network')}` ({datetime.now():%Y-%m-%d %H:%M}); "
        + describe(bench.machine),
        "",
        source_state() + ".",
    ]
    total_visits = sum(lib.visits for lib in libraries)
    report.append(
        f"\n{len(libraries)} libraries, {total_visits:,} visits in all "
        f"(schools {small_min:,}-{small_max:,}, "
        f"{args.large} x {args.large_visits:,}); "
        + (f"seeded in {seed_s:.0f} s." if seed_s else "databases reused from an earlier run.")
    )
    try:
        bench.run(report)
    finally:
        bench.close()
        print("\n".join(report), flush=True)


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def source_state() -> str:
    """The commit the service ran from, and the files changed beside it."""
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()[:90]
    dirty = subprocess.run(
        ["git", "status", "--short", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()[1::2]
    return f"Source: {head}" + (f" (changed beside it: {', '.join(dirty)})" if dirty else "")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    parser.add_argument("--libraries", type=int, default=500, help="small school libraries")
    parser.add_argument("--large", type=int, default=3, help="large libraries")
    parser.add_argument("--large-visits", type=int, default=1_000_000)
    parser.add_argument(
        "--small-visits",
        default="10000:100000",
        metavar="MIN:MAX",
        help="the school libraries' visits, spread evenly from MIN to MAX (use another --prefix)",
    )
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--prefix", default="sch", help="slugs <prefix>-001...")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench-network"))
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--live-workers",
        type=int,
        default=1,
        help="workers of concurrency 1 for the live queue alone (the Procfile's `live`)",
    )
    parser.add_argument(
        "--intervals",
        type=int,
        nargs="+",
        default=[5000],
        help="VISITOR_SYNC_MIN_INTERVAL_MS values for the ticks phase",
    )
    parser.add_argument(
        "--interval-ms",
        type=int,
        default=5000,
        help="VISITOR_SYNC_MIN_INTERVAL_MS of the other phases",
    )
    parser.add_argument("--tick-window", type=float, default=180)
    parser.add_argument(
        "--ticks-while-building",
        action="store_true",
        help="measure the ticks without waiting for the first builds (a fresh start's ticks)",
    )
    parser.add_argument("--tick-timeout", type=float, default=90)
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument("--first-start-timeout", type=float, default=3600)
    parser.add_argument("--nightly-timeout", type=float, default=1500)
    parser.add_argument(
        "--drain-before-nightly",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to this long for the default queue to empty (a start's jobs done) "
        "before queueing the nightly run, as at night in a settled deployment",
    )
    parser.add_argument("--seed-timeout", type=float, default=7200)
    parser.add_argument("--warm-requests", type=int, default=400)
    parser.add_argument("--listing-requests", type=int, default=250)
    parser.add_argument("--sse-clients", type=int, default=1000)
    parser.add_argument("--sse-rate", type=float, default=10, help="updates published per second")
    parser.add_argument("--sse-timeout", type=float, default=120)
    parser.add_argument("--failover-concurrency", type=int, default=2)
    parser.add_argument(
        "--kill-after",
        type=float,
        default=0.4,
        help="kill a once this share of the nightly tasks has ended",
    )
    parser.add_argument("--failover-timeout", type=float, default=600)
    parser.add_argument(
        "--max-connections",
        type=int,
        default=0,
        help="SET GLOBAL max_connections for the run (restored at the end)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for the service's processes (repeatable)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="a new DATA_DIR even when first-start is not among the phases",
    )
    return parser.parse_args()


# --- machine-wide figures ------------------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = list(map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]))
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    def __init__(self):
        self.start = cpu_times()

    def busy_percent(self) -> float:
        busy, total = cpu_times()
        return 100 * (busy - self.start[0]) / max(1, total - self.start[1])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its children still alive (from /proc)."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler(threading.Thread):
    """SHOW PROCESSLIST's view every `every` s: statements running on the bench's databases and
    connections open to them (the most at once), and MariaDB's refused connections."""

    def __init__(self, databases: set[str], every: float = 0.1):
        super().__init__(daemon=True)
        self.databases = databases
        self.every = every
        self.stop = threading.Event()
        self.max_running = 0
        self.max_connections = 0
        self.samples = 0
        self.busiest: list[tuple] = []

    def run(self) -> None:
        connection = mysql()
        cursor = connection.cursor()
        while not self.stop.is_set():
            cursor.execute(
                "SELECT COMMAND, DB, TIME_MS, LEFT(INFO, 120) FROM information_schema.PROCESSLIST "
                "WHERE ID <> CONNECTION_ID() AND (DB LIKE 'bench\\_net\\_%' OR DB IS NULL) "
                "AND USER <> 'system user'"
            )
            rows = [row for row in cursor.fetchall() if row[1] is None or row[1] in self.databases]
            running = [row for row in rows if row[0] == "Query" and row[1]]
            self.samples += 1
            self.max_connections = max(self.max_connections, len(rows))
            if len(running) > self.max_running:
                self.max_running = len(running)
                self.busiest = running
            self.stop.wait(self.every)
        connection.close()


def refused_connections() -> int:
    cursor = mysql().cursor()
    cursor.execute("SHOW GLOBAL STATUS LIKE 'Connection_errors_max_connections'")
    return int(cursor.fetchone()[1])


# --- the service's processes ---------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path


@dataclass
class Stack:
    """The processes this run started, each stopped at the end whatever happens."""

    env: dict
    logs: Path
    workers: list[Worker] = field(default_factory=list)
    beat: subprocess.Popen | None = None
    webs: dict[int, subprocess.Popen] = field(default_factory=dict)

    def start_workers(
        self,
        count: int,
        concurrency: int,
        env: dict,
        tag: str,
        names: list[str] | None = None,
        queues: tuple[str, ...] = (),
    ) -> None:
        for number in range(count):
            name = names[number] if names else f"w{number + 1}"
            log_path = self.logs / f"worker-{tag}-{name}.log"
            command = [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "bench.network_app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                *(["--queues", ",".join(queues)] if queues else []),
            ]
            log(f"$ {' '.join(command[1:])}   (log: {log_path})")
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.workers.append(Worker(name, process, log_path))
        for worker in self.workers[-count:]:
            wait_for(
                lambda w=worker: b"ready." in w.log.read_bytes() or w.process.poll(),
                180,
                f"worker ready ({worker.log})",
            )
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited: {worker.log}")

    def start_beat(self, env: dict, tag: str) -> None:
        log_path = self.logs / f"beat-{tag}.log"
        log(f"$ celery --app config beat ... (log: {log_path})")
        self.beat = start_beat(env, log_path)

    def start_web(self, env: dict, tag: str) -> int:
        port = free_port()
        log_path = self.logs / f"web-{tag}.log"
        log(f"$ python -m config.web --bind 127.0.0.1 --port {port}   (log: {log_path})")
        process = subprocess.Popen(
            [sys.executable, "-m", "config.web", "--bind", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={"WEB_CONCURRENCY": "1", **env},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.webs[port] = process
        wait_for(
            lambda: answers(f"http://127.0.0.1:{port}/api/libraries", 10),
            180,
            f"web on {port} ({log_path})",
        )
        return port

    def kill_worker(self, worker: Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)

    def stop_workers(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker(worker)
            # the pool's children of a killed parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGKILL)
        self.workers = []

    def stop_beat(self) -> None:
        if self.beat is not None:
            stop(self.beat)
            self.beat = None

    def stop_web(self, port: int) -> None:
        process = self.webs.pop(port)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self) -> None:
        self.stop_beat()
        self.stop_workers()
        for port in list(self.webs):
            self.stop_web(port)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def answers(url: str, timeout: float = 5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


# --- the bench -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, work: Path, libraries: list[NetLibrary], files: Path):
        self.args = args
        self.work = work
        self.libraries = libraries
        self.by_slug = {lib.slug: lib for lib in libraries}
        self.databases = {lib.database for lib in libraries}
        self.files = files
        self.data = work / f"data-{args.prefix}-{len(libraries)}"
        self.logs = work / f"logs-{datetime.now():%H%M%S}"
        self.logs.mkdir(parents=True)
        self.task_log = self.logs / "tasks.log"
        self.redis_port = free_port()
        self.redis = start_redis(self.redis_port, self.logs / "redis.log")
        self.env = service_env(
            files,
            self.data,
            self.redis_port,
            VISITOR_SYNC_MIN_INTERVAL_MS=str(args.interval_ms),
            BENCH_TASK_LOG=str(self.task_log),
        )
        self.env.update(item.split("=", 1) for item in args.env)
        self.stack = Stack(self.env, self.logs)
        self.machine = machine()
        self.machine["mariadb"] = self.scalar("SELECT VERSION()")
        self.saved_globals = self.mariadb_globals()
        self.keys: dict[str, dict[str, str]] = {}
        self.interval_ms = args.interval_ms
        # Task ids whose job had run when a worker was killed (the handover's note in Redis),
        # with the time of the kill: their work ended before it, though their task could not.
        self.ran_before_kill: dict[str, float] = {}

    # -- MariaDB --------------------------------------------------------------------------------
    @staticmethod
    def scalar(sql: str):
        cursor = mysql().cursor()
        cursor.execute(sql)
        return cursor.fetchone()[0]

    def mariadb_globals(self) -> dict[str, str]:
        cursor = mysql().cursor()
        cursor.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('slow_query_log', 'long_query_time', "
            "'log_output', 'max_connections')"
        )
        return dict(cursor.fetchall())

    def set_globals(self) -> None:
        """The slow log (to mysql.slow_log, every statement over 100 ms) from the start, so
        the service's connections, opened later, all carry long_query_time=0.1."""
        cursor = mysql().cursor()
        log(f"MariaDB globals before: {self.saved_globals}")
        cursor.execute("SET GLOBAL log_output = 'TABLE'")
        cursor.execute("SET GLOBAL long_query_time = 0.1")
        cursor.execute("SET GLOBAL slow_query_log = 1")
        if self.args.max_connections:
            cursor.execute(f"SET GLOBAL max_connections = {int(self.args.max_connections)}")

    def restore_globals(self) -> None:
        cursor = mysql().cursor()
        saved = self.saved_globals
        cursor.execute(f"SET GLOBAL slow_query_log = {1 if saved['slow_query_log'] == 'ON' else 0}")
        cursor.execute(f"SET GLOBAL long_query_time = {float(saved['long_query_time'])}")
        cursor.execute("SET GLOBAL log_output = %s", (saved["log_output"],))
        cursor.execute(f"SET GLOBAL max_connections = {int(saved['max_connections'])}")
        log(f"MariaDB globals restored: {self.mariadb_globals()}")

    def slow_statements(self, since: datetime, until: datetime) -> list[tuple]:
        """(seconds, database, statement) of the bench's databases' statements over 100 ms."""
        cursor = mysql().cursor()
        cursor.execute(
            "SELECT TIME_TO_SEC(query_time) + MICROSECOND(query_time) / 1e6, db, "
            "LEFT(CONVERT(sql_text USING utf8mb4), 300), start_time FROM mysql.slow_log "
            "WHERE start_time BETWEEN %s AND %s AND db LIKE 'bench\\_net\\_%%' "
            "ORDER BY query_time DESC",
            (since.replace(tzinfo=None), until.replace(tzinfo=None)),
        )
        return [row for row in cursor.fetchall() if row[1] in self.databases]

    # -- Django in this process (keys, the Celery app) -----------------------------------------
    def django(self) -> None:
        if self.keys:
            return
        os.environ.update(self.env)
        import django

        django.setup()
        from config.library import all_libraries, serving
        from metrics_cache.base import keys

        for library in all_libraries():
            with serving(library):
                self.keys[library.slug] = {
                    "count": keys.today_count(),
                    "loop": keys.today_loop_status(),
                    "channel": keys.today_events_channel(),
                    "prefix": keys.prefix(),
                }

    def redis_client(self, db: int = 0):
        import redis

        return redis.Redis(port=self.redis_port, db=db, socket_timeout=10)

    # -- state ----------------------------------------------------------------------------------
    def own_db(self, lib: NetLibrary) -> Path:
        return self.data / ("app.sqlite3" if lib.index == 0 else f"app-{lib.slug}.sqlite3")

    def rollups(self) -> dict[str, datetime | float | None]:
        """{slug: when its last source's first build ended, or its progress (0..1)}."""
        found = {}
        for lib in self.libraries:
            try:
                connection = sqlite3.connect(
                    f"file:{self.own_db(lib)}?mode=ro", uri=True, timeout=2
                )
                rows = connection.execute(
                    "SELECT source, built_at, last_id, build_target_id "
                    "FROM metrics_cache_rollupstate WHERE live = 1"
                ).fetchall()
                connection.close()
            except sqlite3.Error:
                found[lib.slug] = 0.0
                continue
            built = [row[1] for row in rows if row[1]]
            if len(rows) == 2 and len(built) == 2:
                found[lib.slug] = max(datetime.fromisoformat(at) for at in built)
            else:
                done = sum(row[2] for row in rows)
                target = sum(row[3] for row in rows) or 1
                found[lib.slug] = min(0.99, done / target) if rows else 0.0
        return found

    def counts(self) -> dict[str, tuple[int | None, float | None, str]]:
        """{slug: (today's published count or None, age of the loop's last success in s, its
        error)} from Redis."""
        self.django()
        client = self.redis_client()
        pipeline = client.pipeline(transaction=False)
        for lib in self.libraries:
            pipeline.get(self.keys[lib.slug]["count"])
            pipeline.hmget(self.keys[lib.slug]["loop"], "last_success_at", "error")
        replies = pipeline.execute()
        now = datetime.now(UTC)
        found = {}
        for index, lib in enumerate(self.libraries):
            raw, (success, error) = replies[2 * index], replies[2 * index + 1]
            total = None
            if raw is not None:
                value = json.loads(raw)
                if value["date"] == datetime.now(ZoneInfo(lib.zone)).date().isoformat():
                    total = int(value["total"])
            age = (
                (now - datetime.fromisoformat(success.decode())).total_seconds()
                if success
                else None
            )
            found[lib.slug] = (total, age, (error or b"").decode())
        return found

    def settle(self, what: str) -> tuple[float, int, int]:
        """Waits (at most --settle-timeout) until every library's count is published and its
        loop succeeded within three intervals: (seconds waited, libraries current, libraries
        with a count today) at the end."""
        started = time.monotonic()
        limit = 3 * max(1.0, self.interval_ms / 1000)
        deadline = started + self.args.settle_timeout
        while True:
            counts = self.counts()
            counted = sum(1 for total, _, _ in counts.values() if total is not None)
            current = sum(
                1
                for total, age, _ in counts.values()
                if total is not None and age is not None and age <= limit
            )
            log(
                f"  settling ({what}): {current}/{len(counts)} libraries current, {counted} counted"
            )
            if current == len(counts) or time.monotonic() > deadline:
                return time.monotonic() - started, current, counted
            time.sleep(5)

    # -- the run --------------------------------------------------------------------------------
    def run(self, report: list[str]) -> None:
        phases = [phase.strip() for phase in self.args.phases.split(",") if phase.strip()]
        unknown = set(phases) - set(PHASES)
        if unknown:
            raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
        self.set_globals()
        self.refused_at_start = refused_connections()
        fresh = (
            "first-start" in phases or self.args.fresh or not (self.data / "app.sqlite3").exists()
        )
        self.prepare(report, fresh=fresh)
        for phase in phases:
            if phase == "first-start":
                self.first_start(report)
            elif phase == "ticks":
                for interval in self.args.intervals:
                    self.ticks(report, interval)
            elif phase == "nightly":
                self.nightly(report)
            elif phase == "memory":
                self.memory(report)
            elif phase == "sse":
                self.sse(report)
            elif phase == "failover":
                self.failover(report)
        report.append(self.error_counts())
        report.append(
            f"\nMariaDB refused connections (Connection_errors_max_connections) during the run: "
            f"{refused_connections() - self.refused_at_start:,} "
            f"(max_connections {self.mariadb_globals()['max_connections']})."
        )

    def error_counts(self) -> str:
        """How often the workers' logs name the errors this bench looks out for."""
        patterns = (
            "NoSlot",
            "Too many connections",
            "database is locked",
            "raised unexpected",
            "WorkerLostError",
            "Hard time limit",
            "Soft time limit",
            "fast loop failing",
        )
        found = dict.fromkeys(patterns, 0)
        for worker_log in self.logs.glob("worker-*.log"):
            for line in worker_log.read_text(errors="replace").splitlines():
                for pattern in patterns:
                    if pattern in line:
                        found[pattern] += 1
        return (
            "\nIn the workers' logs: " + ", ".join(f"`{k}` {v:,}" for k, v in found.items()) + "."
        )

    def close(self) -> None:
        try:
            self.stack.stop_all()
        finally:
            with contextlib.suppress(Exception):
                self.restore_globals()
            stop(self.redis)

    def prepare(self, report: list[str], *, fresh: bool) -> None:
        """`manage.py migrate`, timed. A fresh DATA_DIR starts from copies of a two-library
        network's migrated files (the home library's and another's; every other library's
        file is a copy of that other one), as migrating 500 SQLite files from nothing takes
        minutes (about 500 s here); migrate then checks each and finds nothing to do."""
        if fresh:
            shutil.rmtree(self.data, ignore_errors=True)
            self.data.mkdir(parents=True)
            template = self.work / "template"
            shutil.rmtree(template, ignore_errors=True)
            pair = write_libraries_file(self.libraries[:2], template / "libraries.toml")
            self.migrate({**self.env, "LIBRARIES_FILE": str(pair), "DATA_DIR": str(template)})
            shutil.copy(template / "app.sqlite3", self.data / "app.sqlite3")
            for lib in self.libraries[1:]:
                shutil.copy(template / f"app-{self.libraries[1].slug}.sqlite3", self.own_db(lib))
        self.data.mkdir(parents=True, exist_ok=True)
        log(f"manage.py migrate ({len(self.libraries)} libraries, DATA_DIR={self.data})")
        self.migrate_s = self.migrate(self.env)
        report.append(
            f"\n`manage.py migrate` over {len(self.libraries)} SQLite files "
            f"({'copies of freshly migrated ones' if fresh else 'an earlier run'}'s): "
            f"{self.migrate_s:.0f} s."
        )

    @staticmethod
    def migrate(env: dict) -> float:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{result.stdout}{result.stderr}")
        return time.monotonic() - started

    def start_service(self, interval_ms: int, tag: str, *, web: bool = True) -> None:
        self.interval_ms = interval_ms
        env = {**self.env, "VISITOR_SYNC_MIN_INTERVAL_MS": str(interval_ms)}
        self.stack.start_workers(self.args.workers, self.args.concurrency, env, tag)
        if self.args.live_workers:
            names = [f"live{number + 1}" for number in range(self.args.live_workers)]
            self.stack.start_workers(len(names), 1, env, tag, names=names, queues=(LIVE_QUEUE,))
        self.stack.start_beat(env, tag)
        if web and not self.stack.webs:
            self.web_port = self.stack.start_web(env, tag)

    def ensure_running(self, interval_ms: int, tag: str) -> None:
        if self.interval_ms != interval_ms or not self.stack.workers or self.stack.beat is None:
            self.stack.stop_beat()
            self.stack.stop_workers()
            self.start_service(interval_ms, tag)
        if not self.stack.webs:
            self.web_port = self.stack.start_web(self.env, tag)

    def wait_rollups(self, started_wall: float, timeout: float) -> dict:
        """Until every library's rollups are built (or `timeout`); their state then."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.rollups()
            built = [at for at in state.values() if isinstance(at, datetime)]
            progress = sum(1.0 if isinstance(at, datetime) else at for at in state.values())
            log(
                f"  rollups: {len(built)}/{len(state)} libraries built "
                f"({100 * progress / len(state):.1f} % of rows), "
                f"{time.time() - started_wall:.0f} s"
            )
            if len(built) == len(state) or time.monotonic() > deadline:
                return state
            time.sleep(15)

    # -- 2 (first start) -----------------------------------------------------------------------
    def first_start(self, report: list[str]) -> None:
        self.redis_client().flushall()
        cpu = CpuMeter()
        sampler = Sampler(self.databases, every=1.0)
        sampler.start()
        started_wall = time.time()
        self.start_service(self.args.interval_ms, "first")
        state = self.wait_rollups(started_wall, self.args.first_start_timeout)
        sampler.stop.set()
        built = {slug: at for slug, at in state.items() if isinstance(at, datetime)}
        elapsed = [at.timestamp() - started_wall for at in built.values()]
        counts = self.counts()
        counted = sum(1 for total, _, _ in counts.values() if total is not None)
        errors = sorted({error for _, _, error in counts.values() if error})
        lines = [
            "",
            "### First start: every library's rollups built",
            "",
            "Command: the phase `first-start`: fresh DATA_DIR and Redis, `manage.py migrate`, "
            f"then {self.args.workers} workers (prefork, concurrency "
            f"{self.args.concurrency}), {self.args.live_workers} of the live queue alone "
            "(concurrency 1), beat and web started together; measured from the "
            "start of the processes to the latest `built_at` of every library's two "
            "sources (each library's SQLite file).",
            "",
            "| libraries built | all built after | half built after | 90 % built after "
            "| counts published | machine CPU busy | connections to MariaDB (max) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        if elapsed:
            complete = len(built) == len(state)
            half = percentile(elapsed, 50) if len(built) * 2 >= len(state) else float("nan")
            most = percentile(elapsed, 90) if len(built) * 10 >= len(state) * 9 else float("nan")
            lines.append(
                f"| {len(built)}/{len(state)} "
                f"| {f'{max(elapsed):.0f} s' if complete else 'not all (timeout)'} "
                f"| {half:.0f} s | {most:.0f} s | {counted}/{len(counts)} "
                f"| {cpu.busy_percent():.0f} % | {sampler.max_connections} |"
            )
        else:
            lines.append(f"| 0/{len(state)} | timeout | | | {counted}/{len(counts)} | | |")
        if errors:
            lines += ["", "Fast-loop errors seen: " + "; ".join(f"`{e[:160]}`" for e in errors[:5])]
        lines.append(
            f"\nTarget: none set (a one-off job); budget of the first build per library in "
            f"BENCHMARKS.md: chunk reads of 50 ms. Elapsed wall time "
            f"{time.time() - started_wall:.0f} s."
        )
        report += lines
        log("\n".join(lines))

    # -- 1 (ticks) -----------------------------------------------------------------------------
    def ticks(self, report: list[str], interval_ms: int) -> None:
        self.ensure_running(interval_ms, f"ticks-{interval_ms}")
        building_note = ""
        if self.args.ticks_while_building:
            state = self.rollups()
            building = sum(1 for at in state.values() if not isinstance(at, datetime))
            building_note = (
                f" While measuring, the first builds ran: {building} of {len(state)} libraries' "
                "rollups were not built yet when the settling began."
            )
        elif any(not isinstance(at, datetime) for at in self.rollups().values()):
            self.wait_rollups(time.time(), self.args.first_start_timeout)
        settle_s, current, counted = self.settle(f"interval {interval_ms} ms")
        seen: dict[str, list[tuple[float, int]]] = {}
        channel_slug = {self.keys[lib.slug]["channel"].encode(): lib.slug for lib in self.libraries}
        pubsub = self.redis_client().pubsub()
        pubsub.psubscribe(f"{self.keys[self.libraries[0].slug]['prefix'].split(':')[0]}:*")
        listening = threading.Event()
        stop_listening = threading.Event()

        def listen() -> None:
            while not stop_listening.is_set():
                message = pubsub.get_message(timeout=0.2)
                listening.set()
                if message and message["type"] == "pmessage":
                    slug = channel_slug.get(message["channel"])
                    if slug:
                        total = json.loads(message["data"])["total"]
                        seen.setdefault(slug, []).append((time.time(), int(total)))

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        listening.wait(10)
        rng = random.Random(7)
        window = self.args.tick_window
        plan = sorted((rng.uniform(0, window), lib.index) for lib in self.libraries)
        plan = [(at, self.libraries[index]) for at, index in plan]
        connection = mysql()
        cursor = connection.cursor()
        client = self.redis_client()
        inserted: dict[str, tuple[float, int]] = {}
        cpu = CpuMeter()
        worker_cpu = [process_cpu_seconds(w.process.pid) for w in self.stack.workers]
        beat_cpu = process_cpu_seconds(self.stack.beat.pid)
        window_start = time.time()
        started = time.monotonic()
        log(f"  inserting a check-in into {len(plan)} libraries over {window:.0f} s")
        for at, lib in plan:
            time.sleep(max(0.0, started + at - time.monotonic()))
            value = json.loads(client.get(self.keys[lib.slug]["count"]) or b'{"total": -1}')
            now_local = datetime.now(ZoneInfo(lib.zone)).replace(tzinfo=None, microsecond=0)
            t0 = time.time()
            cursor.execute(CHECKIN.format(db=lib.database), (now_local,))
            inserted[lib.slug] = (t0, int(value["total"]) + 1)

        def latency(slug: str) -> float | None:
            t0, expected = inserted[slug]
            for at, total in seen.get(slug, []):
                if at >= t0 and total >= expected:
                    return at - t0
            return None

        deadline = time.monotonic() + self.args.tick_timeout
        while time.monotonic() < deadline:
            if all(latency(slug) is not None for slug in inserted):
                break
            time.sleep(0.5)
        stop_listening.set()
        listener.join(5)
        busy = cpu.busy_percent()
        window_s = time.time() - window_start
        worker_cpu_s = sum(process_cpu_seconds(w.process.pid) for w in self.stack.workers) - sum(
            worker_cpu
        )
        beat_cpu_s = process_cpu_seconds(self.stack.beat.pid) - beat_cpu
        connection.close()
        delays = [d for d in (latency(slug) for slug in inserted) if d is not None]
        missing = len(inserted) - len(delays)
        met = bool(delays) and not missing and percentile(delays, 99) <= 15
        # Ticks alone, and by groups of libraries (today.groups) where there are several.
        from metrics_cache.today.groups import group_count

        runs = self.task_runs("metrics_cache.sync_today", window_start, time.time())
        grouped = self.task_runs("metrics_cache.sync_today_group", window_start, time.time())
        runs += round(grouped * len(self.libraries) / group_count(len(self.libraries)))
        expected_runs = len(self.libraries) * window_s / (interval_ms / 1000)
        counts = self.counts()
        errors = sorted({error for _, _, error in counts.values() if error})
        lines = [
            "",
            f"### Tick latency, VISITOR_SYNC_MIN_INTERVAL_MS={interval_ms}",
            "",
            f"Command: the phase `ticks`: {self.args.workers} workers x concurrency "
            f"{self.args.concurrency} (prefork), {self.args.live_workers} of the live queue "
            f"alone and beat running; after {settle_s:.0f} s of "
            f"settling {current}/{len(self.libraries)} libraries had their loop current "
            f"(a success within 3 intervals) and {counted} a count today; one check-in into "
            f"each of {len(inserted)} libraries at a random time over {window:.0f} s; the "
            "delay from the INSERT to the library's count in Redis showing it (the publish on "
            "its channel, which the SET of the count goes with)." + building_note,
            "",
            "| libraries | shown | p50 | p95 | p99 | max | ticks run / due | machine CPU "
            "| workers' CPU | beat CPU |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {len(inserted)} | {len(delays)} | {fmt_s(delays, 50)} | {fmt_s(delays, 95)} "
            f"| {fmt_s(delays, 99)} | {max(delays) if delays else float('nan'):.2f} s "
            f"| {runs:,} / {expected_runs:,.0f} | {busy:.0f} % "
            f"| {worker_cpu_s / window_s:.2f} cores | {beat_cpu_s / window_s:.2f} cores |",
            "",
            f"Target: p99 ≤ 15 s: **{'met' if met else 'not met'}**"
            + (
                f" ({missing} libraries never showed their check-in within "
                f"{self.args.tick_timeout:.0f} s of the last insert)"
                if missing
                else ""
            )
            + ".",
        ]
        if errors:
            lines.append(
                "Fast-loop errors in Redis at the end: "
                + "; ".join(f"`{e[:160]}`" for e in errors[:5])
            )
        report += lines
        log("\n".join(lines))

    def task_runs(self, name: str, since: float, until: float) -> int:
        found = 0
        with contextlib.suppress(OSError), self.task_log.open() as lines:
            for line in lines:
                parts = line.split(" ", 7)
                if (
                    parts[0].startswith("end")
                    and parts[5] == name
                    and since <= float(parts[1]) <= until
                ):
                    found += 1
        return found

    def task_events(self) -> list[dict]:
        events = []
        with contextlib.suppress(OSError), self.task_log.open() as lines:
            for line in lines:
                parts = line.rstrip("\n").split(" ", 7)
                if len(parts) == 8:
                    events.append(
                        {
                            "event": parts[0],
                            "at": float(parts[1]),
                            "host": parts[2],
                            "pid": parts[3],
                            "id": parts[4],
                            "task": parts[5],
                            "library": parts[6],
                            "args": parts[7],
                        }
                    )
        return events

    # -- 2 (the nightly run) ------------------------------------------------------------------
    def queue_nightly(self) -> dict[str, tuple[str, str, str]]:
        """Every library's nightly tasks, each library's side by side (beat sends the snapshot
        groups at their own local times and the rest on intervals: this is the harder order,
        one library's jobs waiting for each other); {task id: (library, task, args)}."""
        self.django()
        from config.celery import app

        queued = {}
        for lib in self.libraries:
            for name, task_args in NIGHTLY:
                result = app.send_task(name, args=task_args, kwargs={"library": lib.slug})
                queued[result.id] = (lib.slug, name, json.dumps(task_args, separators=(",", ":")))
        return queued

    def jobs(self, queued: dict) -> tuple[dict[str, tuple], dict[tuple, dict]]:
        """The queued jobs followed through the copies of themselves their tasks sent (a job
        handed to its library's running one that ran out of time sends it as a message of its
        own; a build's next step; a lost message sent again): ({task id: job} for the queued
        tasks and their copies, {job: the end of its last copy, once it ended}). A job whose
        last copy has not ended is not in the second."""
        events = self.task_events()
        job_of, superseded = dict(queued), set()
        for event in events:  # in time order: a copy is sent before it starts
            parent = event["args"]
            if event["event"] == "sent" and job_of.get(parent, ("", ""))[1] == event["task"]:
                job_of[event["id"]] = job_of[parent]
                superseded.add(parent)
        ends: dict[tuple, dict] = {}
        for event in events:
            if (
                not event["event"].startswith("end")
                or event["event"] == HANDED  # not an end: it runs under its id elsewhere
                or event["id"] not in job_of
                or event["id"] in superseded
            ):
                continue
            job = job_of[event["id"]]
            if event["id"] in self.ran_before_kill:
                continue  # below
            if event["event"] == RAN:
                # Its job ran before: the end seen then, or (lost with its worker before its
                # task ended) this one, later than the job's own.
                ends.setdefault(job, {**event, "event": "end:SUCCESS"})
            else:
                ends[job] = event
        for task_id, at in self.ran_before_kill.items():
            if task_id in job_of and task_id not in superseded:
                ends[job_of[task_id]] = {"event": "end:SUCCESS", "at": at, "id": task_id,
                                         "host": "before the kill"}  # fmt: skip
        return job_of, ends

    def ran_jobs(self) -> set[str]:
        """The task ids the handover noted as run (every library's `jobs:ran:<id>`)."""
        found = self.redis_client().scan_iter(match="libdash:*:jobs:ran:*", count=1000)
        return {key.decode().rsplit(":", 1)[1] for key in found}

    def drain(self, timeout: float) -> str:
        """Waits (at most `timeout`) until the default queue holds fewer messages than there
        are libraries; what it held at the end."""
        if not timeout:
            return ""
        broker = self.redis_client(db=1)
        deadline = time.monotonic() + timeout
        while True:
            waiting = broker.llen("celery")
            log(f"  draining before the nightly run: {waiting} messages on the default queue")
            if waiting < len(self.libraries) or time.monotonic() > deadline:
                return f"{waiting} messages waiting on the default queue when it was queued"
            time.sleep(10)

    def wait_ended(self, queued: dict, timeout: float, what: str) -> dict[tuple, dict]:
        """Until every queued job's last copy ended successfully (or `timeout`): {job: end}."""
        deadline = time.monotonic() + timeout
        last_log = 0.0
        jobs = len(set(queued.values()))
        while True:
            _, ends = self.jobs(queued)
            succeeded = sum(1 for e in ends.values() if e["event"] == "end:SUCCESS")
            if time.monotonic() - last_log > 15:
                log(f"  {what}: {succeeded}/{jobs} jobs succeeded")
                last_log = time.monotonic()
            if succeeded == jobs or time.monotonic() > deadline:
                return ends
            time.sleep(1)

    def worker_log_succeeded(self, ids: set[str]) -> int:
        found = set()
        for worker_log in self.logs.glob("worker-*.log"):
            for line in worker_log.read_text(errors="replace").splitlines():
                if "succeeded in" in line and "[" in line:
                    task_id = line.split("[", 2)[-1].split("]", 1)[0]
                    if task_id in ids:
                        found.add(task_id)
        return len(found)

    def nightly(self, report: list[str]) -> None:
        self.ensure_running(self.args.interval_ms, "nightly")
        if any(not isinstance(at, datetime) for at in self.rollups().values()):
            self.wait_rollups(time.time(), self.args.first_start_timeout)
        self.settle("before the nightly run")
        drained = self.drain(self.args.drain_before_nightly)
        sampler = Sampler(self.databases, every=0.1)
        sampler.start()
        cpu = CpuMeter()
        since = datetime.now()
        started = time.time()
        queued = self.queue_nightly()
        queued_s = time.time() - started
        ends = self.wait_ended(queued, self.args.nightly_timeout, "nightly run")
        sampler.stop.set()
        until = datetime.now()
        time.sleep(1)
        slow = self.slow_statements(since, until)
        succeeded = [e for e in ends.values() if e["event"] == "end:SUCCESS"]
        failed = [e for e in ends.values() if e["event"] != "end:SUCCESS"]
        wall = max(e["at"] for e in ends.values()) - started if ends else float("nan")
        per_task: dict[str, list[float]] = {}
        starts = {e["id"]: e["at"] for e in self.task_events() if e["event"] == "start"}
        for job, end in ends.items():  # the run of each job's last copy
            if end["id"] in starts:
                per_task.setdefault(job[1] + job[2], []).append(end["at"] - starts[end["id"]])
        in_log = self.worker_log_succeeded({end["id"] for end in ends.values()})
        jobs = len(set(queued.values()))
        done = len(succeeded) == jobs
        lines = [
            "",
            "### The nightly run of every library",
            "",
            f"Command: the phase `nightly`: with the workers ({self.args.workers} x "
            f"concurrency {self.args.concurrency}) and beat running (the fast loop ticking "
            f"every {self.interval_ms} ms meanwhile), {len(queued):,} tasks queued "
            f"({len(self.libraries)} libraries x refresh_group visitors and books, "
            "fold_rollups, refresh_circulation, copy_report_lookups, `app.send_task(name, "
            'args, kwargs={"library": slug})`, queued in '
            f"{queued_s:.1f} s{'; ' + drained if drained else ''}); wall time from the first "
            "queued to the last ended. MariaDB "
            "slow log (long_query_time 0.1, log_output TABLE) and PROCESSLIST every 100 ms "
            f"({sampler.samples:,} samples).",
            "",
            "| jobs succeeded | failed | 'succeeded' in worker logs | wall time | machine CPU "
            "| statements > 100 ms | longest | most running at once | connections (max) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {len(succeeded):,}/{jobs:,} | {len(failed)} | {in_log:,} "
            f"| {wall:.0f} s{'' if done else ' (timeout)'} | {cpu.busy_percent():.0f} % "
            f"| {len(slow)} | {slow[0][0] * 1000 if slow else 0:.0f} ms "
            f"| {sampler.max_running} | {sampler.max_connections} |",
            "",
            "| task | runs | median | p99 | longest |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, durations in sorted(per_task.items()):
            lines.append(
                f"| `{name}` | {len(durations)} | {percentile(durations, 50):.2f} s "
                f"| {percentile(durations, 99):.2f} s | {max(durations):.2f} s |"
            )
        lines.append(
            f"\nTarget: all done ≤ 10 min: **{'met' if done and wall <= 600 else 'not met'}**; "
            "a statement on SLiMS ≤ 100 ms (BENCHMARKS.md): "
            f"**{'met' if not slow else 'not met'}**."
        )
        if slow:
            lines += ["", "The longest statements (seconds, database, statement):", ""]
            for seconds, db, text, at in slow[:8]:
                lines.append(f"- {seconds:.3f} s `{db}` at {at}: `{' '.join(text.split())[:220]}`")
            by_kind: dict[str, int] = {}
            for _, _, text, _ in slow:
                kind = " ".join(text.split())[:60]
                by_kind[kind] = by_kind.get(kind, 0) + 1
            lines.append(
                "\nStatements over 100 ms by their first 60 characters: "
                + "; ".join(
                    f"{count} x `{kind}`"
                    for kind, count in sorted(by_kind.items(), key=lambda kv: -kv[1])[:8]
                )
            )
        if sampler.busiest:
            lines.append(
                f"\nAt the busiest sample: {[f'{r[1]}: {r[3]}' for r in sampler.busiest][:6]}"
            )
        report += lines
        log("\n".join(lines))

    # -- 3 (memory) ----------------------------------------------------------------------------
    def warm(self, port: int, slugs: list[str], requests: int) -> int:
        """`requests` GETs spread over the libraries and the snapshot paths; how many got 200."""
        self.django()
        from metrics_cache.snapshots.registry import METRICS

        paths = ["api/visitors/today", *(metric.paths[0] for metric in METRICS)]
        ok = 0
        for number in range(requests):
            slug = slugs[number % len(slugs)]
            path = paths[(number // len(slugs) + number) % len(paths)]
            if number % 20 == 0:
                url = f"http://127.0.0.1:{port}/api/libraries"
            else:
                url = f"http://127.0.0.1:{port}/l/{slug}/{path}"
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    ok += response.status == 200
            except OSError:
                pass
        return ok

    def daphne_pid(self, port: int) -> int:
        return child_pids(self.stack.webs[port].pid)[0]

    def listing_latency(self, port: int, requests: int) -> list[float]:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            connection.request("GET", "/api/libraries")
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"/api/libraries answered {response.status}: {body[:200]}")
        connection.close()
        return times

    def memory(self, report: list[str]) -> None:
        self.ensure_running(self.args.interval_ms, "memory")
        port = self.web_port
        # a fresh web process of every library, so both are measured from the same start;
        # their 1,300 requests in a minute from one address, counted in one Redis, are past
        # the default throttle (unless --env sets it)
        env = {"THROTTLE_ANON_RATE": "100000/min", **self.env}
        self.stack.stop_web(port)
        port = self.web_port = self.stack.start_web(env, "memory-all")
        slugs = [lib.slug for lib in self.libraries]
        ok_all = self.warm(port, slugs, self.args.warm_requests)
        rss_all = rss_mib(self.daphne_pid(port))
        listing_all = self.listing_latency(port, self.args.listing_requests)
        rss_all_after = rss_mib(self.daphne_pid(port))
        one_file = write_libraries_file(self.libraries[:1], self.work / "libraries-1.toml")
        env_one = {**env, "LIBRARIES_FILE": str(one_file)}
        port_one = self.stack.start_web(env_one, "memory-one")
        ok_one = self.warm(port_one, slugs[:1], self.args.warm_requests)
        rss_one = rss_mib(self.daphne_pid(port_one))
        listing_one = self.listing_latency(port_one, self.args.listing_requests)
        rss_one_after = rss_mib(self.daphne_pid(port_one))
        self.stack.stop_web(port_one)
        size = len(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/libraries").read())
        ratio = rss_all_after / rss_one_after
        lines = [
            "",
            "### Web memory and /api/libraries",
            "",
            "Command: the phase `memory`: a web process (`python -m config.web`, "
            f"WEB_CONCURRENCY=1) with the {len(self.libraries)} libraries and another with a "
            f"LIBRARIES_FILE of 1 library (the same DATA_DIR and Redis), each warmed with "
            f"{self.args.warm_requests} requests (the snapshot paths and today's count across "
            f"its libraries, /api/libraries every 20th); RSS of the daphne process; then "
            f"{self.args.listing_requests} sequential GET /api/libraries on one keep-alive "
            "connection.",
            "",
            "| libraries | warm-up 200s | daphne RSS warmed | after the listing requests "
            "| /api/libraries p50 | p99 | max | body |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {len(self.libraries)} | {ok_all}/{self.args.warm_requests} | {rss_all:.0f} MiB "
            f"| {rss_all_after:.0f} MiB | {percentile(listing_all, 50):.1f} ms "
            f"| {percentile(listing_all, 99):.1f} ms | {max(listing_all):.1f} ms "
            f"| {size:,} B |",
            f"| 1 | {ok_one}/{self.args.warm_requests} | {rss_one:.0f} MiB "
            f"| {rss_one_after:.0f} MiB | {percentile(listing_one, 50):.1f} ms "
            f"| {percentile(listing_one, 99):.1f} ms | {max(listing_one):.1f} ms | |",
            "",
            f"Targets: RSS ratio ≤ 1.5x: {ratio:.2f}x **{'met' if ratio <= 1.5 else 'not met'}**; "
            f"/api/libraries ≤ 50 ms (p99 {percentile(listing_all, 99):.1f} ms): "
            f"**{'met' if percentile(listing_all, 99) <= 50 else 'not met'}**.",
        ]
        report += lines
        log("\n".join(lines))

    # -- 4 (the network's stream) --------------------------------------------------------------
    def sse(self, report: list[str]) -> None:
        self.django()
        if not self.stack.webs:
            self.web_port = self.stack.start_web(self.env, "sse")
        # Only this phase's publishes change the counts.
        self.stack.stop_beat()
        self.stack.stop_workers()
        port = self.web_port
        counts = self.counts()
        base = {slug: (total or 0) for slug, (total, _, _) in counts.items()}
        result = asyncio.run(sse_run(self, port, base))
        daphne = self.daphne_pid(port)
        n_updates = len(self.libraries)
        delays = result["delays"]
        complete = sum(1 for got in result["received"] if got == n_updates)
        lines = [
            "",
            "### The network's stream: clients x every library's update",
            "",
            f"Command: the phase `sse`: {self.args.sse_clients} raw HTTP/1.1 clients (asyncio, "
            "this process) on GET /api/network/today/stream of one web process; once every "
            f"client had its `init`, one update per library ({n_updates}) published straight "
            'on each library\'s Redis channel (`{"total", "generated_at"}`, as the fast '
            f"loop publishes; beat and workers stopped), {self.args.sse_rate:g} a second; "
            "delay from the publish to each client's `update` for that library.",
            "",
            "| clients connected | got every update | updates received / expected | p50 | p99 "
            "| max | last network_total right | web CPU | daphne RSS (connected) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {result['connected']}/{self.args.sse_clients} | {complete} "
            f"| {sum(result['received']):,} / {self.args.sse_clients * n_updates:,} "
            f"| {percentile(delays, 50) * 1000:.0f} ms | {percentile(delays, 99) * 1000:.0f} ms "
            f"| {max(delays, default=float('nan')) * 1000:.0f} ms "
            f"| {result['network_total_ok']}/{result['connected']} "
            f"| {result['web_cpu_s']:.1f} s over {result['publish_s']:.0f} s "
            f"| {result['rss']:.0f} MiB |",
            "",
            f"Errors: {result['errors'] or 'none'}. Daphne RSS after: {rss_mib(daphne):.0f} MiB.",
        ]
        report += lines
        log("\n".join(lines))

    # -- 5 (failover) --------------------------------------------------------------------------
    def failover(self, report: list[str]) -> None:
        self.stack.stop_beat()
        self.stack.stop_workers()
        broker = self.redis_client(db=1)
        broker.flushdb()  # the bench's own broker: nothing left from other phases
        if any(not isinstance(at, datetime) for at in self.rollups().values()):
            raise RuntimeError("failover needs every library's rollups built")
        conc = self.args.failover_concurrency
        env = {**self.env, "VISITOR_SYNC_MIN_INTERVAL_MS": str(self.args.interval_ms)}
        self.stack.start_workers(2, conc, env, "failover", names=["a", "b"])
        # As deployed: beat's interval jobs beside the night's, and its sweep that sends again
        # a message a killed worker popped off the broker before reserving it.
        self.stack.start_beat(env, "failover")
        worker_a = next(w for w in self.stack.workers if w.name == "a")
        started = time.time()
        queued = self.queue_nightly()
        target = int(len(queued) * self.args.kill_after)
        wait_for(
            lambda: len(self.wait_ended_quiet(queued)) >= target,
            self.args.failover_timeout,
            "the share of the nightly run before the kill",
            0.5,
        )
        running_on_a = self.running_on("a@", queued)
        done_before = len(self.wait_ended_quiet(queued))
        killed_at = time.time()
        self.stack.kill_worker(worker_a)
        # a's tasks cut short whose job had run (noted by the handover) as it was killed.
        ran, open_on_a = self.ran_jobs(), set()
        for event in self.task_events():
            if event["host"].startswith("a@"):
                (open_on_a.add if event["event"] == "start" else open_on_a.discard)(event["id"])
        self.ran_before_kill = dict.fromkeys(open_on_a & ran, killed_at)
        log(f"  at the kill: {len(ran):,} jobs noted as run; a's tasks open "
            f"{sorted(open_on_a)}, of them noted {sorted(self.ran_before_kill)}")  # fmt: skip
        log(
            f"  killed worker a (process group {worker_a.process.pid}) at "
            f"{killed_at - started:.0f} s; running on it: {len(running_on_a)}"
        )
        ends = self.wait_ended(queued, self.args.failover_timeout, "after the kill")
        succeeded = {job: e for job, e in ends.items() if e["event"] == "end:SUCCESS"}
        done_at = max((e["at"] for e in succeeded.values()), default=float("nan"))
        jobs = len(set(queued.values()))
        all_done = len(succeeded) == jobs
        job_of, _ = self.jobs(queued)
        # Every job's runs (its copies'): [start, end] per host, a's unfinished ones ending at
        # the kill.
        spans: dict[tuple, list[tuple[str, float, float]]] = {}
        open_starts: dict[tuple[str, str], dict] = {}
        for event in self.task_events():
            if event["id"] not in job_of or event["event"] == "sent":
                continue
            key = (event["id"], event["pid"])
            if event["event"] == "start":
                open_starts[key] = event
            elif key in open_starts:
                start = open_starts.pop(key)
                if event["event"] in (HANDED, RAN):
                    continue  # it ran nothing: the holder of its library's slot runs it
                spans.setdefault(job_of[event["id"]], []).append(
                    (start["host"], start["at"], event["at"])
                )
        for (task_id, _), start in open_starts.items():
            end = killed_at if start["host"].startswith("a@") else time.time()
            spans.setdefault(job_of[task_id], []).append((start["host"], start["at"], end))
        overlaps = []
        for job, runs in spans.items():
            for host1, s1, e1 in runs:
                for host2, s2, e2 in runs:
                    if host1 < host2 and s1 < e2 and s2 < e1:
                        overlaps.append((job, host1, s1, e1, host2, s2, e2))
        libraries_done = {job[0] for job in succeeded}
        per_library_complete = sum(
            1
            for lib in self.libraries
            if all((lib.slug, n, json.dumps(a, separators=(",", ":"))) in succeeded
                   for n, a in NIGHTLY)
        )  # fmt: skip
        # Run twice: started again after a run that ended or was cut short (a task that only
        # queued itself again is not a run).
        twice = sum(1 for runs in spans.values() if len(runs) > 1)
        on_b_after = sum(
            1
            for runs in spans.values()
            for host, s, _ in runs
            if host.startswith("b@") and s >= killed_at
        )
        redelivered = [
            job for job in running_on_a if any(h.startswith("b@") for h, _, _ in spans.get(job, []))
        ]
        after_kill = done_at - killed_at
        # a's jobs cut short by the kill (one may have ended on a as it was killed), and when
        # each started again on b (the handover).
        cut_short = {job_of[task_id] for (task_id, _), start in open_starts.items()
                     if start["host"].startswith("a@")}  # fmt: skip
        # A cut-short job whose work had ended (its message, given back to b, ended "ran
        # already"): picked up when b found so, unless its note was seen at the kill.
        confirmed: dict[tuple, float] = {}
        for event in self.task_events():
            if event["event"] == RAN and event["id"] in job_of and event["at"] >= killed_at:
                confirmed.setdefault(job_of[event["id"]], event["at"])
        ended_before = {job_of[task_id] for task_id in self.ran_before_kill}
        handed = [
            min([s for h, s, _ in spans.get(job, []) if h.startswith("b@") and s >= killed_at]
                + [confirmed.get(job, float("inf"))]) - killed_at
            for job in cut_short - ended_before
        ]  # fmt: skip
        handover = f"{max(handed):.0f} s" if handed else "-"
        picked_up = not handed or max(handed) <= 60
        lines = [
            "",
            "### Two workers as two hosts, one killed mid-run",
            "",
            "Command: the phase `failover`: the broker emptied, workers `-n a@%h` and "
            f"`-n b@%h` (prefork, concurrency {conc}) and beat; the nightly run of every "
            f"library queued ({len(queued):,} tasks); once {self.args.kill_after:.0%} had "
            "ended, worker a's process group killed with SIGKILL; start and end of every "
            "task from bench.network_app's task log.",
            "",
            "| jobs done before the kill | running on a at the kill | libraries complete "
            "| all jobs succeeded | last ended after the kill | runs on both hosts at once "
            "| jobs run twice | a's running jobs rerun on b | cut short on a: their work ended "
            "before the kill; the rest, the last started on b |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {done_before:,} | {len(running_on_a)} "
            f"| {per_library_complete}/{len(self.libraries)} "
            f"| {len(succeeded):,}/{jobs:,} | {after_kill:.0f} s "
            f"| {len(overlaps)} | {twice} | {len(redelivered)}/{len(running_on_a)} "
            f"| {len(cut_short)}: {len(cut_short & ended_before)}; {handover} after the kill |",
            "",
            f"Targets: a's jobs picked up by b within 60 s of the kill: "
            f"**{'met' if picked_up else 'not met'}**; "
            f"every library complete within 60 s of the kill: "
            f"**{'met' if all_done and after_kill <= 60 else 'not met'}**; no job on both at "
            f"once: **{'met' if not overlaps else 'not met'}**. Tasks started on b after the "
            f"kill: {on_b_after:,}; libraries with any task succeeded: {len(libraries_done)}.",
        ]
        for job, host1, s1, e1, host2, s2, e2 in overlaps[:5]:
            lines.append(
                f"- overlap {job}: {host1} {s1 - started:.1f}-{e1 - started:.1f} s, "
                f"{host2} {s2 - started:.1f}-{e2 - started:.1f} s"
            )
        for job in running_on_a[:8]:
            runs = ", ".join(
                f"{h} {s - started:.1f}-{e - started:.1f} s" for h, s, e in spans.get(job, [])
            )
            lines.append(f"- running on a at the kill ({killed_at - started:.1f} s): {job}: {runs}")
        report += lines
        log("\n".join(lines))
        self.stack.stop_beat()
        self.stack.stop_workers()

    def wait_ended_quiet(self, queued: dict) -> set[tuple]:
        """The jobs whose last copy succeeded."""
        return {job for job, end in self.jobs(queued)[1].items() if end["event"] == "end:SUCCESS"}

    def running_on(self, host_prefix: str, queued: dict) -> list[tuple]:
        job_of, _ = self.jobs(queued)
        started, ended = {}, set()
        for event in self.task_events():
            if event["id"] not in job_of or not event["host"].startswith(host_prefix):
                continue
            if event["event"] == "start":
                started[event["id"]] = event
            elif event["event"].startswith("end"):
                ended.add(event["id"])
        return [job_of[i] for i in started if i not in ended]


def fmt_s(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.2f} s" if values else "-"


# --- SSE clients -------------------------------------------------------------------------------


async def sse_run(bench: Bench, port: int, base: dict[str, int]) -> dict:
    import redis.asyncio as aioredis

    args = bench.args
    clients = args.sse_clients
    n_libraries = len(bench.libraries)
    published: dict[tuple[str, int], float] = {}
    received = [0] * clients
    delays: list[float] = []
    last_network_total: list[int | None] = [None] * clients
    inits = asyncio.Event()
    got_init = [False] * clients
    errors: dict[str, int] = {}
    writers = []

    def on_event(index: int, event: str, data: str, now: float) -> None:
        if event == "init":
            if not got_init[index]:
                got_init[index] = True
                if sum(got_init) == clients:
                    inits.set()
        elif event == "update":
            value = json.loads(data)
            key = (value["slug"], int(value["total"]))
            at = published.get(key)
            if at is not None:
                received[index] += 1
                delays.append(now - at)
                last_network_total[index] = value["network_total"]

    async def client(index: int, gate: asyncio.Semaphore) -> None:
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 30
                )
                writers.append(writer)
                writer.write(
                    f"GET /api/network/today/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode()
                )
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            chunked = b"transfer-encoding: chunked" in head.lower()
            buffer = b""
            while True:
                if chunked:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                    if size == 0:
                        return
                    data = (await reader.readexactly(size + 2))[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        return
                buffer = (buffer + data).replace(b"\r\n", b"\n")
                now = time.monotonic()
                while b"\n\n" in buffer:
                    raw, buffer = buffer.split(b"\n\n", 1)
                    event, lines = "message", []
                    for line in raw.decode().split("\n"):
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            lines.append(line[5:].lstrip(" "))
                    on_event(index, event, "\n".join(lines), now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = f"{type(exc).__name__}: {exc}"[:80]
            errors[kind] = errors.get(kind, 0) + 1

    gate = asyncio.Semaphore(100)
    tasks = [asyncio.create_task(client(index, gate)) for index in range(clients)]
    try:
        await asyncio.wait_for(inits.wait(), args.sse_timeout)
    except TimeoutError:
        log(f"  only {sum(got_init)}/{clients} clients got `init` within {args.sse_timeout:.0f} s")
    connected = sum(got_init)
    log(f"  {connected} clients connected; publishing {n_libraries} updates")
    await asyncio.sleep(2)
    daphne = bench.daphne_pid(port)
    rss = rss_mib(daphne)
    cpu_before = process_cpu_seconds(daphne)
    redis = aioredis.Redis(port=bench.redis_port)
    totals = {}
    started = time.monotonic()
    for number, lib in enumerate(bench.libraries):
        await asyncio.sleep(max(0.0, started + number / args.sse_rate - time.monotonic()))
        total = base[lib.slug] + 1000 + random.Random(number).randint(1, 100)
        totals[lib.slug] = total
        payload = json.dumps({"total": total, "generated_at": datetime.now().isoformat()})
        published[(lib.slug, total)] = time.monotonic()
        await redis.publish(bench.keys[lib.slug]["channel"], payload)
    publish_s = time.monotonic() - started
    deadline = time.monotonic() + args.sse_timeout
    while time.monotonic() < deadline and sum(received) < connected * n_libraries:
        await asyncio.sleep(0.5)
    web_cpu = process_cpu_seconds(daphne) - cpu_before
    await redis.aclose()
    expected_total = sum(totals.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for writer in writers:
        writer.close()
    return {
        "connected": connected,
        "received": [received[i] for i in range(clients) if got_init[i]],
        "delays": delays,
        "network_total_ok": sum(1 for v in last_network_total if v == expected_total),
        "errors": errors,
        "rss": rss,
        "web_cpu_s": web_cpu,
        "publish_s": publish_s,
    }


if __name__ == "__main__":
    main()
