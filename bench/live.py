"""Today's live count: the fast loop's tick cost (direct vs delta) and SSE fan-out to many clients.

Usage: .venv/bin/python bench/live.py
           [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
           [--redis-url redis://127.0.0.1:6379/20] [--own-redis-port 6390]
           [--data-dir var/bench-live] [--day 2026-11-25] [--runs 20] [--direct-runs 5]
           [--new-rows 10] [--clients 1000] [--rounds 10] [--fanout-rounds 20]
           [--skip-fast-loop] [--skip-sse]   (--help lists the rest)

1. Fast-loop tick cost, in process, with `--day` passed explicitly to the count functions:
   today.count_direct(day); today.count_delta(day) as the first tick of the day (the Redis
   state hash deleted first: an exact baseline through primary-key bisection); count_delta in
   steady state with no new rows; and count_delta after --new-rows rows dated `day` were
   inserted between ticks. Rows examined are the deltas of MariaDB's session counters on the
   `library` connection (Handler_read_first/key/last/next/prev/rnd/rnd_next, summed; Rows_read
   too). The delta total is checked against count_direct at the end.
2. SSE fan-out: web (the Procfile's `web` line under `ulimit -n 8192`), worker and beat (their
   Procfile lines) with TODAY_COUNT_MODE=delta, VISITOR_SYNC_MIN_INTERVAL_MS=1000 and
   VISITOR_SYNC_BUFFER_MS=0. --clients raw HTTP/1.1 SSE clients in this process (asyncio) wait
   for `init`; then --rounds rounds insert one visit dated now (library local time) and time
   the `update` carrying the new total at every client; then --fanout-rounds rounds publish an
   update straight on the Redis channel (pure fan-out, no tick). The web process's RSS is read
   before the clients connect, with all connected, and after they disconnect.

Redis: the cache database of --redis-url and the next one (Celery's broker) are emptied at the
start. When that server has too few databases for both, a private redis-server is started on
--own-redis-port (databases 0 and 1, no persistence) and stopped at the end.

Rows inserted into visitor_count are marked (member_name 'bench/live.py'), journalled in
<data-dir>/live-inserted-ids.txt and deleted by visitor_id at the end, even on error (a journal
left by a killed run is cleaned up at the next start). MyISAM's AUTO_INCREMENT stays advanced.
Every process started is stopped at the end. Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from common import HANDLER_READS, StatementCounter, connection_id, counters, machine

ROOT = Path(__file__).resolve().parent.parent
EXTRA_COUNTERS = ("Rows_read",)
MARKER = "bench/live.py"
STREAM_PATH = "/api/visitors/today/stream"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- Redis ------------------------------------------------------------------------------------


def redis_databases(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return int(client.config_get("databases")["databases"])
    except Exception as exc:  # unreachable, or CONFIG disabled
        log(f"CONFIG GET databases on {url} failed: {exc}")
        return 0
    finally:
        client.close()


def start_own_redis(port: int, data_dir: Path) -> subprocess.Popen:
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    log("$ " + " ".join(part or '""' for part in command))
    process = subprocess.Popen(
        command,
        cwd=data_dir,
        stdout=open(data_dir / "redis.log", "wb"),  # noqa: SIM115 (lives as long as redis)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(Exception):
            if client.ping():
                break
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start (see redis.log)")
        time.sleep(0.1)
    client.close()
    return process


# --- The library database: a writer connection for the benchmark's own rows --------------------


class Rows:
    """Inserts marked visits and deletes exactly those, by visitor_id."""

    def __init__(self, database_url: str, journal: Path):
        import MySQLdb

        parts = urlsplit(database_url)
        self.connection = MySQLdb.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            passwd=unquote(parts.password or ""),
            db=parts.path.strip("/"),
            charset="utf8mb4",
            autocommit=True,
        )
        self.journal = journal
        self.ids: list[int] = []
        if journal.exists():  # left by a run that was killed before its cleanup
            left = [int(line) for line in journal.read_text().split()]
            log(f"journal {journal}: deleting {len(left)} rows left by an earlier run")
            self.ids = left
            self.delete_all()

    def insert(self, checkin: datetime) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
                "checkin_date) VALUES (NULL, %s, %s, NULL, %s)",
                (MARKER, MARKER, checkin.strftime("%Y-%m-%d %H:%M:%S")),
            )
            visitor_id = cursor.lastrowid
        self.ids.append(visitor_id)
        with open(self.journal, "a") as journal:
            journal.write(f"{visitor_id}\n")
        return visitor_id

    def delete_all(self) -> int:
        deleted = 0
        with self.connection.cursor() as cursor:
            for start in range(0, len(self.ids), 200):
                chunk = self.ids[start : start + 200]
                marks = ", ".join(["%s"] * len(chunk))
                deleted += cursor.execute(
                    f"DELETE FROM visitor_count WHERE visitor_id IN ({marks}) AND member_name = %s",
                    (*chunk, MARKER),
                )
        log(f"deleted {deleted} of {len(self.ids)} inserted visitor_count rows")
        self.ids = []
        self.journal.unlink(missing_ok=True)
        return deleted

    def close(self) -> None:
        self.connection.close()


# --- Machine ----------------------------------------------------------------------------------


# --- 1. Fast-loop tick cost -------------------------------------------------------------------


def measure(call, connection, overhead: dict[str, int]) -> dict:
    before = counters(connection, EXTRA_COUNTERS)
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = call()
        wall_ms = (time.perf_counter() - started) * 1000
    after = counters(connection, EXTRA_COUNTERS)
    deltas = {name: after[name] - before[name] - overhead[name] for name in after}
    return {
        "wall_ms": wall_ms,
        "total": result.total,
        "statements": counter.count,
        "counters": deltas,
        "examined": sum(deltas[name] for name in HANDLER_READS),
    }


def fast_loop_benchmark(args, rows: Rows) -> dict:
    from django.db import connections
    from django.utils import timezone

    from metrics_cache import keys, today

    day = args.day
    connection = connections["library"]
    connection.ensure_connection()
    session = connection_id(connection)
    first, second = counters(connection, EXTRA_COUNTERS), counters(connection, EXTRA_COUNTERS)
    overhead = {name: second[name] - first[name] for name in first}
    redis = today.redis()
    cases: dict[str, list[dict]] = {}

    def run(label: str, count: int, call, before=None) -> None:
        cases[label] = []
        for index in range(count):
            if before is not None:
                before(index)
            sample = measure(call, connection, overhead)
            cases[label].append(sample)
            log(
                f"{label:<32} run {index + 1:>2}: {sample['wall_ms']:9.1f} ms "
                f"{sample['examined']:>11,} rows examined  total {sample['total']:,}"
            )

    run("direct", args.direct_runs, lambda: today.count_direct(day))
    run(
        "delta, first tick of the day",
        args.runs,
        lambda: today.count_delta(day),
        before=lambda index: redis.delete(keys.today_delta_state()),
    )
    run("delta, steady, no new rows", args.runs, lambda: today.count_delta(day))

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
            rows.insert(moment)

    run(
        f"delta, steady, {args.new_rows} new rows",
        args.runs,
        lambda: today.count_delta(day),
        before=insert_rows,
    )
    delta_total = cases[f"delta, steady, {args.new_rows} new rows"][-1]["total"]
    check = today.count_direct(day).total
    inserted = len(rows.ids)
    if connection_id(connection) != session:
        raise RuntimeError("the library connection was replaced during the fast-loop runs")
    return {
        "day": day,
        "cases": cases,
        "overhead": overhead,
        "delta_total": delta_total,
        "direct_total": check,
        "inserted": inserted,
        "run_at": timezone.now(),
    }


def fast_loop_table(bench: dict) -> str:
    cases = bench["cases"]
    direct = cases["direct"]
    direct_ms = statistics.median(sample["wall_ms"] for sample in direct)
    direct_rows = statistics.median(sample["examined"] for sample in direct)
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


# --- 2. SSE fan-out: the processes ------------------------------------------------------------


def procfile_lines() -> dict[str, str]:
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


def session_pids(session_id: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


class Service:
    """One Procfile process in its own session, logging to a file."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_path: Path):
        self.name, self.command, self.log_path = name, command, log_path
        log(f"$ {command}   ({name}; log: {log_path})")
        with open(log_path, "wb") as output:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def main_pid(self, program: str) -> int | None:
        """The pid running `program` (not the /bin/sh around it)."""
        for pid in sorted(session_pids(self.process.pid)):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if argv[0] != b"/bin/sh" and any(program.encode() in part for part in argv[:3]):
                    return pid
        return None

    def stop(self, grace: float = 15) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.process.poll()
            if not session_pids(self.process.pid):
                break
            time.sleep(0.1)
        else:
            for pid in session_pids(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait()
        left = session_pids(self.process.pid)
        log(f"{self.name} stopped{f'; still running: {left}' if left else ''}")


def proc_status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def rss_kib(pid: int) -> int:
    return int(proc_status(pid, "VmRSS").split()[0])


def open_fds(pid: int) -> str:
    """How many descriptors `pid` has open, by kind (socket, pipe, anon_inode:..., file)."""
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            kind = target.split(":[", 1)[0] if ":[" in target else target.split("]", 1)[0]
            kind = "file" if kind.startswith("/") else kind
            kinds[kind] = kinds.get(kind, 0) + 1
    detail = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    return f"{sum(kinds.values())} ({detail})"


TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def server_sockets(pid: int, port: int) -> dict[str, int]:
    """The sockets `pid` holds, by what they are: `:<port> <TCP state>` for those on its own
    `port`, `to :<remote port> <state>` for outgoing ones (Redis, MariaDB), `other` for the rest
    (Unix sockets). From /proc/net/tcp and tcp6."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    states: dict[str, int] = {}
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] not in inodes:
                    continue
                seen.add(fields[9])
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                state = TCP_STATES.get(fields[3], fields[3])
                key = f":{port} {state}" if local_port == port else f"to :{remote_port} {state}"
                states[key] = states.get(key, 0) + 1
    if len(inodes - seen):
        states["other"] = len(inodes - seen)
    return dict(sorted(states.items()))


def client_sockets(states: dict[str, int], port: int) -> int:
    return sum(
        count
        for key, count in states.items()
        if key.startswith(f":{port} ") and "LISTEN" not in key
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def max_open_files(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port: int, path: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- 2. SSE fan-out: the clients --------------------------------------------------------------


class Hub:
    """What every client has seen, and the round being timed."""

    def __init__(self, clients: int):
        self.clients = clients
        self.init_at: dict[int, float] = {}
        self.open_at: dict[int, float] = {}
        self.init_total: dict[int, int | None] = {}
        self.updates: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
        self.errors: dict[int, str] = {}
        self.closed_early: set[int] = set()
        self.all_open = asyncio.Event()
        self.expected: int | None = None
        self.arrivals: dict[int, float] = {}
        self.generated_at: str | None = None
        self.round_done = asyncio.Event()

    def on_event(self, client: int, event: str, data: str, now: float) -> None:
        if event == "init":
            self.init_at[client] = now
            self.init_total[client] = json.loads(data)["total"]
        elif event == "stream-open":
            self.open_at[client] = now
            if len(self.open_at) == self.clients:
                self.all_open.set()
        elif event == "update":
            value = json.loads(data)
            total = int(value["total"])
            self.updates[client].append((now, total))
            if total == self.expected and client not in self.arrivals:
                self.arrivals[client] = now
                self.generated_at = value.get("generated_at")
                if len(self.arrivals) == self.clients:
                    self.round_done.set()

    def start_round(self, expected: int) -> None:
        self.expected = expected
        self.arrivals = {}
        self.generated_at = None
        self.round_done = asyncio.Event()


def parse_event(raw: bytes) -> tuple[str, str]:
    event, data = "message", []
    for line in raw.decode().split("\n"):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return event, "\n".join(data)


async def sse_client(index: int, port: int, hub: Hub, gate: asyncio.Semaphore, writers: list):
    buffer = b""
    try:
        # The gate is held until the stream is open, so connections are set up in waves.
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers[index] = writer
            writer.write(
                f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if status.split(b" ")[1:2] != [b"200"]:
                raise RuntimeError(status.decode(errors="replace"))
            chunked = b"transfer-encoding: chunked" in head.lower()
            while index not in hub.open_at:
                data = await read_body(reader, chunked)
                if data is None:
                    hub.closed_early.add(index)
                    return
                buffer = dispatch(index, hub, buffer + data)
        while True:
            data = await read_body(reader, chunked)
            if data is None:
                hub.closed_early.add(index)
                return
            buffer = dispatch(index, hub, buffer + data)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        hub.errors[index] = f"{type(exc).__name__}: {exc}"[:200]


async def read_body(reader, chunked: bool) -> bytes | None:
    """The next piece of the body (one chunk when chunked); None at its end."""
    if not chunked:
        return await reader.read(65536) or None
    size_line = await reader.readuntil(b"\r\n")
    size = int(size_line.split(b";")[0].strip(), 16)
    if size == 0:
        return None
    data = await reader.readexactly(size + 2)
    return data[:-2]


def dispatch(index: int, hub: Hub, buffer: bytes) -> bytes:
    """Hands every complete event in `buffer` to the hub; returns what is left."""
    now = time.monotonic()
    buffer = buffer.replace(b"\r\n", b"\n")
    while b"\n\n" in buffer:
        raw, buffer = buffer.split(b"\n\n", 1)
        event, data = parse_event(raw)
        hub.on_event(index, event, data, now)
    return buffer


def wall_of(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


async def sse_rounds(args, port: int, web_pid: int, rows: Rows, channel: str, redis_url: str):
    from zoneinfo import ZoneInfo

    import redis.asyncio as aioredis
    from django.conf import settings

    from metrics_cache import keys

    zone = ZoneInfo(settings.LIBRARY_TIME_ZONE)
    wall_offset = time.time() - time.monotonic()
    hub = Hub(args.clients)
    writers: list = [None] * args.clients
    gate = asyncio.Semaphore(args.connect_concurrency)
    result: dict = {"rss_kib": {}, "fds": {}, "threads": {}}
    result["rss_kib"]["before clients connect"] = rss_kib(web_pid)
    result["threads"]["before clients connect"] = int(proc_status(web_pid, "Threads"))
    result["fds"]["before clients connect"] = open_fds(web_pid)
    redis = aioredis.Redis.from_url(redis_url)

    connect_started = time.monotonic()
    tasks = [
        asyncio.create_task(sse_client(index, port, hub, gate, writers))
        for index in range(args.clients)
    ]
    try:
        while not hub.all_open.is_set():
            if len(hub.errors) + len(hub.closed_early) + len(hub.open_at) >= args.clients:
                break
            if time.monotonic() - connect_started > args.connect_timeout:
                break
            await asyncio.sleep(0.05)
        connected_s = time.monotonic() - connect_started
        log(
            f"{len(hub.init_at)} clients got init, {len(hub.open_at)} stream-open in "
            f"{connected_s:.1f} s; {len(hub.errors)} errors"
        )
        if len(hub.open_at) < args.clients:
            sample = list(hub.errors.values())[:3]
            raise RuntimeError(f"only {len(hub.open_at)} clients connected; errors: {sample}")
        result["connect_s"] = connected_s
        result["init_to_open_ms"] = [
            (hub.open_at[i] - hub.init_at[i]) * 1000 for i in hub.open_at if i in hub.init_at
        ]
        init_totals = set(hub.init_total.values())
        result["init_totals"] = sorted(init_totals, key=lambda value: (value is None, value))
        await asyncio.sleep(2)
        result["rss_kib"][f"{args.clients:,} connected"] = rss_kib(web_pid)
        result["threads"][f"{args.clients:,} connected"] = int(proc_status(web_pid, "Threads"))
        result["fds"][f"{args.clients:,} connected"] = open_fds(web_pid)
        result["sockets_connected"] = server_sockets(web_pid, port)

        # End to end: insert a visit, wait for the update with the new total everywhere.
        published = await redis.get(keys.today_count())
        total = json.loads(published)["total"]
        if init_totals != {total}:
            log(f"init totals {init_totals} differ from the published {total}")
        rounds = []
        for number in range(1, args.rounds + 1):
            await asyncio.sleep(random.uniform(args.gap_min, args.gap_max))
            hub.start_round(total + 1)
            insert_wall = time.time()
            visitor_id = rows.insert(datetime.now(zone).replace(tzinfo=None))
            inserted = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.round_done.wait(), args.update_timeout)
            latencies = [(at - inserted) * 1000 for at in hub.arrivals.values()]
            generated = wall_of(hub.generated_at)
            status = await redis.hgetall(keys.today_loop_status())
            tick_ms = status.get(b"last_duration_ms", b"").decode()
            rounds.append(
                {
                    "latencies": latencies,
                    "missed": args.clients - len(hub.arrivals),
                    "publish_ms": (generated - insert_wall) * 1000 if generated else None,
                    "after_publish_ms": [
                        (at + wall_offset - generated) * 1000 for at in hub.arrivals.values()
                    ]
                    if generated
                    else [],
                    "tick_ms": float(tick_ms) if tick_ms else None,
                }
            )
            log(
                f"round {number}: visitor_id {visitor_id}, total {total + 1}: "
                f"{len(hub.arrivals)}/{args.clients} clients, "
                f"first {min(latencies, default=float('nan')):.0f} ms, "
                f"last {max(latencies, default=float('nan')):.0f} ms, tick {tick_ms} ms"
            )
            total += 1
        hub.expected = None
        result["e2e"] = rounds

        # Pure fan-out: publish on the channel directly; no tick, no database.
        await asyncio.sleep(1)
        fanout = []
        cpu_before = cpu_seconds(web_pid)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        for number in range(1, args.fanout_rounds + 1):
            await asyncio.sleep(args.fanout_gap)
            fake = 10_000_000 + number
            hub.start_round(fake)
            generated_at = datetime.now(zone).isoformat(timespec="milliseconds")
            published_at = time.monotonic()
            await redis.publish(channel, json.dumps({"total": fake, "generated_at": generated_at}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.round_done.wait(), args.update_timeout)
            latencies = [(at - published_at) * 1000 for at in hub.arrivals.values()]
            fanout.append({"latencies": latencies, "missed": args.clients - len(hub.arrivals)})
            log(
                f"fan-out {number}: {len(hub.arrivals)}/{args.clients} clients, "
                f"last {max(latencies, default=float('nan')):.0f} ms"
            )
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        hub.expected = None
        result["fanout"] = fanout
        result["fanout_web_cpu_ms"] = (cpu_seconds(web_pid) - cpu_before) * 1000
        result["fanout_client_cpu_ms"] = (
            self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime
        ) * 1000
        result["rss_kib"]["after the rounds"] = rss_kib(web_pid)
        result["threads"]["after the rounds"] = int(proc_status(web_pid, "Threads"))
        result["fds"]["after the rounds"] = open_fds(web_pid)
        result["errors_during"] = dict(hub.errors)
        result["closed_early"] = len(hub.closed_early)
        result["updates_per_client"] = statistics.median(len(u) for u in hub.updates)
    finally:
        for writer in writers:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await redis.aclose()
    # After the disconnect: wait for daphne to close its sockets.
    deadline = time.monotonic() + args.disconnect_wait
    started = time.monotonic()
    while (left := client_sockets(server_sockets(web_pid, port), port)) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.1)
    result["sockets_closed_s"] = time.monotonic() - started
    result["sockets_left"] = left
    await asyncio.sleep(2)
    result["rss_kib"]["after they disconnect"] = rss_kib(web_pid)
    result["threads"]["after they disconnect"] = int(proc_status(web_pid, "Threads"))
    result["fds"]["after they disconnect"] = open_fds(web_pid)
    result["sockets_after"] = server_sockets(web_pid, port)
    return result


def sse_benchmark(args, env: dict[str, str], rows: Rows) -> dict:
    from django.conf import settings

    from metrics_cache import keys

    data_dir = Path(args.data_dir).resolve()
    lines = procfile_lines()
    port = args.port or free_port()
    env = {
        **os.environ,
        **env,
        "WEB_PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    if not args.allow_prewarm:
        # The worker's start-up prewarm (the whole daily refresh) would run during the
        # measurement; the key says it was already queued by another worker.
        client.set(keys.prewarm_boot(), 1, ex=keys.PREWARM_BOOT_WINDOW_SECONDS)
    client.delete(keys.today_count(), keys.today_delta_state(), keys.today_loop_status())
    web_command = f"ulimit -n {args.web_nofile} && {lines['web']}"
    if args.web_app:  # a yardstick in place of the service's web process, on the same server
        web_command = (f"ulimit -n {args.web_nofile} && python -m config.daphne --port "
                       f"{port} -v 0 {args.web_app}")  # fmt: skip
        env.update(BARE_REDIS_URL=settings.REDIS_URL, BARE_CHANNEL=keys.today_events_channel(),
                   BARE_TODAY_KEY=keys.today_count())  # fmt: skip
    services: list[Service] = []
    result: dict = {"port": port, "commands": {}}
    try:
        for name, command in (
            ("worker", lines["worker"]),
            ("beat", lines["beat"]),
            ("web", web_command),
        ):
            result["commands"][name] = command
            services.append(Service(name, command, env, data_dir / f"{name}.log"))
        web = services[-1]
        started = time.monotonic()
        while True:
            if any(service.process.poll() is not None for service in services):
                raise RuntimeError("a service exited early; see the logs in " + str(data_dir))
            with contextlib.suppress(OSError):
                if http_get(port, "/health")[0] == 200:
                    break
            if time.monotonic() - started > args.start_timeout:
                raise RuntimeError("/health did not answer 200")
            time.sleep(0.25)
        result["health_s"] = time.monotonic() - started
        # Wait for the fast loop's first published count of the real local day.
        while True:
            raw = client.get(keys.today_count())
            if raw is not None:
                break
            if time.monotonic() - started > args.start_timeout:
                raise RuntimeError("the fast loop published nothing; see worker.log and beat.log")
            time.sleep(0.25)
        result["first_count"] = json.loads(raw)
        result["first_count_s"] = time.monotonic() - started
        log(f"first published count after {result['first_count_s']:.1f} s: {raw.decode()}")
        web_pid = web.main_pid("daphne")
        if web_pid is None:
            raise RuntimeError("no daphne process found in the web session")
        result["web_pid"] = web_pid
        result["web_nofile"] = max_open_files(web_pid)
        time.sleep(2)
        result.update(
            asyncio.run(
                sse_rounds(
                    args, port, web_pid, rows, keys.today_events_channel(), settings.REDIS_URL
                )
            )
        )
        result["channel"] = keys.today_events_channel()
        result["web_alive"] = web.process.poll() is None
    finally:
        for service in reversed(services):
            service.stop()
        client.close()
    return result


def sse_tables(bench: dict, args) -> str:
    clients = args.clients
    e2e = bench["e2e"]
    fanout = bench["fanout"]

    def row(label: str, rounds: list[dict], extra: str) -> str:
        latencies = [value for one in rounds for value in one["latencies"]]
        lasts = [max(one["latencies"]) for one in rounds if one["latencies"]]
        missed = sum(one["missed"] for one in rounds)
        return (
            f"| {label} | {len(rounds)} | {len(latencies):,} / {len(rounds) * clients:,} "
            f"| {missed:,} | {percentile(latencies, 50):,.0f} | {percentile(latencies, 99):,.0f} "
            f"| {max(latencies, default=float('nan')):,.0f} | {percentile(lasts, 50):,.0f} "
            f"| {percentile(lasts, 99):,.0f} | {max(lasts, default=float('nan')):,.0f} "
            f"| {extra} |"
        )

    publish = [one["publish_ms"] for one in e2e if one["publish_ms"] is not None]
    after_publish = [value for one in e2e for value in one["after_publish_ms"]]
    ticks = [one["tick_ms"] for one in e2e if one["tick_ms"] is not None]
    e2e_extra = (
        f"insert to publish (generated_at): p50 {percentile(publish, 50):,.0f}, "
        f"max {max(publish, default=float('nan')):,.0f}; publish to client: p50 "
        f"{percentile(after_publish, 50):,.0f}, p99 {percentile(after_publish, 99):,.0f}; "
        f"tick (loop status) p50 {percentile(ticks, 50):,.1f}"
    )
    fanout_extra = (
        f"web CPU {bench['fanout_web_cpu_ms'] / len(fanout):,.0f} ms per update, "
        f"load generator CPU {bench['fanout_client_cpu_ms'] / len(fanout):,.0f} ms per update"
    )
    lines = [
        "| what | rounds | updates received / expected | missed | p50 ms | p99 ms | max ms "
        "| last client p50 ms | last client p99 ms | last client max ms | notes (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        row("insert a visit -> `update` (end to end)", e2e, e2e_extra),
        row("publish on the Redis channel -> `update` (pure fan-out)", fanout, fanout_extra),
    ]
    lines += [
        "",
        "| web process (daphne) | VmRSS | threads | open fds |",
        "|---|---:|---:|---:|",
    ]
    for label, kib in bench["rss_kib"].items():
        fds = bench["fds"].get(label, "-")
        threads = bench["threads"].get(label, "-")
        lines.append(f"| {label} | {kib / 1024:,.1f} MiB | {threads} | {fds} |")
    lines += [
        "",
        "Sockets daphne holds (what: count): with the clients connected "
        f"{bench['sockets_connected']}; after they disconnected {bench['sockets_after']} "
        + (
            f"(all client sockets closed {bench['sockets_closed_s']:.1f} s after the disconnect"
            if not bench["sockets_left"]
            else f"({bench['sockets_left']} client sockets still open after "
            f"{bench['sockets_closed_s']:.1f} s"
        )
        + "; RSS and fds read 2 s later).",
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        "--day",
        type=date.fromisoformat,
        default=date(2026, 11, 25),
        help="'today' for the fast-loop ticks (the last day with data in bench_slims_5m)",
    )
    parser.add_argument("--runs", type=int, default=20, help="runs per delta case")
    parser.add_argument("--direct-runs", type=int, default=5)
    parser.add_argument("--new-rows", type=int, default=10, help="rows inserted between ticks")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10, help="end-to-end insert rounds")
    parser.add_argument("--fanout-rounds", type=int, default=20)
    parser.add_argument(
        "--interval-ms", type=int, default=1000, help="VISITOR_SYNC_MIN_INTERVAL_MS"
    )
    parser.add_argument("--port", type=int, default=0, help="web port (0: a free one)")
    parser.add_argument("--web-nofile", type=int, default=8192, help="`ulimit -n` for daphne")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--connect-timeout", type=float, default=120)
    parser.add_argument("--update-timeout", type=float, default=10)
    parser.add_argument("--gap-min", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--gap-max", type=float, default=1.5)
    parser.add_argument("--fanout-gap", type=float, default=0.5)
    parser.add_argument("--disconnect-wait", type=float, default=15)
    parser.add_argument("--start-timeout", type=float, default=90)
    parser.add_argument(
        "--allow-prewarm",
        action="store_true",
        help="let the worker's start-up prewarm (the full daily refresh) run during part 2",
    )
    parser.add_argument(
        "--web-app",
        help="an ASGI app served by `python -m config.daphne` in place of the service's web "
        "process (bench.baselines.bare_sse:application: the fan-out yardstick)",
    )
    parser.add_argument("--skip-fast-loop", action="store_true")
    parser.add_argument("--skip-sse", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.clients + 1024
    if soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    command_line = ".venv/bin/python bench/live.py" + "".join(f" {a}" for a in sys.argv[1:])

    own_redis = None
    rows = None
    try:
        import redis

        redis_url = args.redis_url
        db = int(urlsplit(redis_url).path.strip("/") or 0)
        databases = redis_databases(redis_url)
        if databases < db + 2:
            log(f"{redis_url}: {databases} databases, {db + 2} needed; starting a private one")
            own_redis = start_own_redis(args.own_redis_port, data_dir)
            redis_url = f"redis://127.0.0.1:{args.own_redis_port}/0"
        cache_db = int(urlsplit(redis_url).path.strip("/") or 0)
        base = redis_url.rsplit("/", 1)[0]
        for number in (cache_db, cache_db + 1):
            flush = redis.Redis.from_url(f"{base}/{number}")
            flush.flushdb()
            flush.close()

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
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        log("manage.py migrate")
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout}{migrate.stderr}")

        import django

        django.setup()
        from django.db import connections
        from django.utils import timezone

        info = machine()
        with connections["library"].cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            info["mariadb"] = cursor.fetchone()[0]
        info["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
        started_at = timezone.now()
        rows = Rows(args.database_url, data_dir / "live-inserted-ids.txt")

        fast = None
        if not args.skip_fast_loop:
            try:
                fast = fast_loop_benchmark(args, rows)
            finally:
                rows.delete_all()
        connections.close_all()
        sse = None
        if not args.skip_sse:
            try:
                sse = sse_benchmark(args, env, rows)
            finally:
                rows.delete_all()
    finally:
        if rows is not None:
            if rows.ids:
                rows.delete_all()
            rows.close()
        if own_redis is not None:
            own_redis.terminate()
            try:
                own_redis.wait(10)
            except subprocess.TimeoutExpired:
                own_redis.kill()
                own_redis.wait()
            log("private redis-server stopped")

    local = timezone.localtime(started_at)
    print(
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
        f"MariaDB {info['mariadb']}, Redis {info['redis']}, Python {info['python']}. "
        f"Run {started_at:%Y-%m-%d %H:%M} UTC ({local:%Y-%m-%d %H:%M} library local time)."
    )
    print(f"Command: `{command_line}`")
    print(f"Library database `{args.database_url}`; Redis `{redis_url}`.")
    if fast is not None:
        print()
        print(f"## Fast loop: direct vs delta ({fast['day'].isoformat()} as today)")
        print()
        print(fast_loop_table(fast))
        print()
        same = "equal" if fast["delta_total"] == fast["direct_total"] else "DIFFERENT"
        print(
            f"After the runs the delta count was {fast['delta_total']:,} and count_direct "
            f"{fast['direct_total']:,} ({same}); {fast['inserted']} rows were inserted and "
            f"deleted. Counter reads by the measurement itself, subtracted: "
            f"{sum(fast['overhead'][name] for name in HANDLER_READS)} Handler_read_*."
        )
    if sse is not None:
        print()
        print(f"## SSE fan-out: {args.clients:,} clients on one web process")
        print()
        print(
            f"web: `{sse['commands']['web']}` (WEB_PORT={sse['port']}, daphne pid "
            f"{sse['web_pid']}, max open files {sse['web_nofile']}); worker: "
            f"`{sse['commands']['worker']}`; beat: `{sse['commands']['beat']}`. "
            f"/health 200 after {sse['health_s']:.1f} s; first count published after "
            f"{sse['first_count_s']:.1f} s (total {sse['first_count']['total']})."
        )
        print()
        init_open = sse["init_to_open_ms"]
        print(
            f"{args.clients:,} clients connected (init and stream-open received) in "
            f"{sse['connect_s']:.1f} s, at most {args.connect_concurrency} connecting at once; "
            f"init totals seen: {sse['init_totals']}; init -> stream-open p50 "
            f"{percentile(init_open, 50):.0f} ms, max {max(init_open):.0f} ms. Errors during "
            f"the rounds: {len(sse['errors_during'])}; streams closed by the server: "
            f"{sse['closed_early']}; update events per client (median): "
            f"{sse['updates_per_client']:.0f}; web alive at the end: {sse['web_alive']}."
        )
        print()
        print(sse_tables(sse, args))


if __name__ == "__main__":
    main()
