"""The daily snapshot refresh on a benchmark library, and one snapshot endpoint under load.

Usage: .venv/bin/python bench/snapshots.py [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
                                            [--redis-url redis://127.0.0.1:6379/10]
                                            [--data-dir var/bench] [--port 8765] [--duration 20]
                                            [--runs 3] [--today YYYY-MM-DD] [--skip-refresh]
                                            [--skip-http]

1. The daily refresh, in process: each group (visitors, books) in registry order with one shared
   RunContext per group, as snapshots.refresh(names, force=True) runs it, but timed metric by
   metric. Rows examined are the deltas of MariaDB's session Handler_read_* counters on the
   `library` connection (first, key, last, next, prev, rnd, rnd_next), read before and after
   each metric. Repeated --runs times; the median per metric is printed, and each group is also
   run once per repetition through snapshots.refresh itself as a cross-check.
2. The web server exactly as the Procfile's `web` line starts it (daphne), `manage.py prewarm
   --only weekly`, then `wrk -t2 -c64 -d<duration>s --latency` on /api/visitors/weekly, once
   for 200 answers and once with If-None-Match set to the ETag (304 answers). Status codes are
   counted from daphne's access log (one line per request on stdout, WEB_ACCESS_LOG=true).

Needs wrk on PATH (Debian: apt-get install -y wrk). Markdown goes to stdout, progress to stderr.
The benchmark database is only read (the library connection is read-only by construction).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import date
from pathlib import Path

from common import HANDLER_READS, StatementCounter, connection_id, counters, machine

ROOT = Path(__file__).resolve().parent.parent
# MariaDB only (0 elsewhere): rows read from base tables / from temporary tables.
EXTRA_COUNTERS = ("Rows_read", "Rows_tmp_read", "Created_tmp_disk_tables")
ENDPOINT = "/api/visitors/weekly"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "LIBRARY_DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DATA_DIR": str(Path(args.data_dir).resolve()),
        "WEB_PORT": str(args.port),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # One load generator is one client address: measure serving, not the throttle.
        "THROTTLE_ANON_RATE": os.environ.get("THROTTLE_ANON_RATE", "1000000/s"),
    }


def manage(*command: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


# --- Machine ---------------------------------------------------------------------------------


def machine_and_wrk() -> dict[str, str]:
    wrk = (
        subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        if shutil.which("wrk")
        else None
    )
    return {
        **machine(),
        "wrk": (wrk.stdout + wrk.stderr).split(" [")[0].strip() if wrk else "wrk missing",
    }


# --- 1. The daily refresh --------------------------------------------------------------------


def measure_metric(metric, ctx, connection, overhead: dict[str, int]) -> dict:
    from metrics_cache import snapshots

    before = counters(connection, EXTRA_COUNTERS)
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = snapshots.compute(metric, ctx)
        wall_ms = (time.perf_counter() - started) * 1000
    after = counters(connection, EXTRA_COUNTERS)
    deltas = {name: after[name] - before[name] - overhead[name] for name in after}
    return {
        "metric": metric.name,
        "group": metric.group,
        "status": result.status,
        "error": result.error,
        "rows": result.rows,
        "wall_ms": wall_ms,
        "statements": counter.count,
        "counters": deltas,
        "examined": sum(deltas[name] for name in HANDLER_READS),
    }


def refresh_benchmark(runs: int, today: date) -> dict:
    from django.db import connections

    from metrics_cache import snapshots
    from metrics_cache.registry import GROUPS, RunContext, in_group

    connection = connections["library"]
    connection.ensure_connection()
    # What reading the counters itself adds (0 on MariaDB 10.11; subtracted if not).
    first, second = counters(connection, EXTRA_COUNTERS), counters(connection, EXTRA_COUNTERS)
    overhead = {name: second[name] - first[name] for name in first}

    per_run: list[list[dict]] = []
    refresh_ms: dict[str, list[float]] = {group: [] for group in GROUPS}
    for run in range(1, runs + 1):
        measured = []
        for group in GROUPS:
            ctx = RunContext(today)
            session = connection_id(connection)
            for metric in in_group(group):
                measured.append(measure_metric(metric, ctx, connection, overhead))
                log(
                    f"run {run} {metric.name:<20} {measured[-1]['wall_ms']:9.0f} ms "
                    f"{measured[-1]['examined']:>12,} rows examined  {measured[-1]['status']}"
                )
            if connection_id(connection) != session:
                sys.exit(f"the library connection was replaced during group {group}")
        per_run.append(measured)
        # Cross-check: the same groups through snapshots.refresh itself (the daily job's call;
        # it uses timezone.localdate(), which is `today` unless --today says otherwise).
        for group in GROUPS:
            names = [metric.name for metric in in_group(group)]
            started = time.perf_counter()
            results = snapshots.refresh(names, force=True)
            refresh_ms[group].append((time.perf_counter() - started) * 1000)
            failed = [result.metric for result in results if result.status != "ok"]
            if failed:
                log(f"snapshots.refresh({group}) failed for {failed}")
            log(f"run {run} snapshots.refresh({group}) {refresh_ms[group][-1]:9.0f} ms")
    return {"overhead": overhead, "runs": per_run, "refresh_ms": refresh_ms}


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def refresh_tables(bench: dict) -> str:
    runs = bench["runs"]
    lines = [
        "| group | metric | result rows | statements | wall ms (median) | wall ms (min-max) "
        "| rows examined (Handler_read_*) | full-scan reads (rnd_next) "
        "| base-table rows (Rows_read) | temp-table reads (Rows_tmp_read) | tmp tables on disk |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    group_totals: dict[str, list[tuple[float, int, int]]] = {}
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
    lines += [
        "",
        "| group | metrics | statements | wall ms (median) | wall ms (min-max) "
        "| `snapshots.refresh` wall ms (median) | rows examined (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    all_runs = []
    for group, totals in group_totals.items():
        walls = [total[0] for total in totals]
        count = sum(1 for sample in runs[0] if sample["group"] == group)
        lines.append(
            f"| {group} | {count} | {statistics.median(t[2] for t in totals):.0f} "
            f"| {statistics.median(walls):,.0f} | {spread(walls)} "
            f"| {statistics.median(bench['refresh_ms'][group]):,.0f} "
            f"| {statistics.median(t[1] for t in totals):,.0f} |"
        )
    for run_index in range(len(runs)):
        all_runs.append(
            tuple(sum(totals[run_index][i] for totals in group_totals.values()) for i in range(3))
        )
    walls = [total[0] for total in all_runs]
    refresh_all = [sum(values) for values in zip(*bench["refresh_ms"].values(), strict=True)]
    lines.append(
        f"| **both** | {len(runs[0])} | {statistics.median(t[2] for t in all_runs):.0f} "
        f"| {statistics.median(walls):,.0f} | {spread(walls)} "
        f"| {statistics.median(refresh_all):,.0f} "
        f"| {statistics.median(t[1] for t in all_runs):,.0f} |"
    )
    return "\n".join(lines)


# --- 2. The endpoint under load --------------------------------------------------------------


def procfile_web_line() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    sys.exit("Procfile has no web line")


def session_cpu_seconds(session_id: int) -> float:
    """utime + stime of every process in the session (the shell and daphne)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id:  # fields[3] is the session id (field 6)
                total += int(fields[11]) + int(fields[12])
    return total / ticks


def session_pids(session_id: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def stop_session(server: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the server's whole session (sh and daphne), SIGKILL to what outlives `grace`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        server.poll()
        if not session_pids(server.pid):
            break
        time.sleep(0.1)
    else:
        for pid in session_pids(server.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    server.wait()
    left = session_pids(server.pid)
    log(f"daphne stopped{f'; still running: {left}' if left else ''}")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_healthy(base: str, server: subprocess.Popen, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.poll() is not None:
            sys.exit(f"daphne exited with {server.returncode} before /health answered")
        with contextlib.suppress(OSError):
            if get(f"{base}/health")[0] == 200:
                return time.monotonic() - started
        time.sleep(0.25)
    sys.exit(f"/health did not answer 200 within {timeout:.0f} s")


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(output: str) -> dict:
    def find(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, output, re.MULTILINE)
        return match.group(1) if match else default

    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(find(r"(\d+) requests in")),
        "rps": float(find(r"Requests/sec:\s+([\d.]+)")),
        "p50": to_ms(find(r"^\s*50%\s+(\S+)", "0ms")),
        "p90": to_ms(find(r"^\s*90%\s+(\S+)", "0ms")),
        "p99": to_ms(find(r"^\s*99%\s+(\S+)", "0ms")),
        "max": to_ms(find(r"Latency\s+\S+\s+\S+\s+(\S+)", "0ms")),
        "over_399": int(find(r"Non-2xx or 3xx responses:\s+(\d+)")),
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }


def access_log_statuses(log_path: Path, offset: int) -> tuple[Counter, int]:
    data = log_path.read_bytes()
    statuses = Counter(
        match.group(1).decode() for match in re.finditer(rb'"GET [^"]*" (\d{3}) ', data[offset:])
    )
    return statuses, len(data)


def run_wrk(args, url: str, headers: list[str], session_id: int, log_path: Path, offset: int):
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    command += ["--latency", *(part for header in headers for part in ("-H", header)), url]
    log("$ " + " ".join(command))
    cpu_before = session_cpu_seconds(session_id)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr}")
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log(result.stdout)
    parsed = parse_wrk(result.stdout)
    parsed["daphne_cpu"] = (session_cpu_seconds(session_id) - cpu_before) / elapsed
    parsed["wrk_cpu"] = (
        wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    ) / elapsed
    time.sleep(0.5)  # let daphne flush the last access-log lines
    parsed["statuses"], offset = access_log_statuses(log_path, offset)
    parsed["command"] = " ".join(part if " " not in part else f"'{part}'" for part in command)
    return parsed, offset


def http_benchmark(args) -> dict:
    log("manage.py prewarm --only weekly")
    prewarm = manage("prewarm", "--only", "weekly")
    log(prewarm)
    base = f"http://127.0.0.1:{args.port}"
    log_path = Path(args.data_dir).resolve() / "daphne-bench.log"
    line = procfile_web_line()
    # Statuses are counted from the access log, which the web command writes only when asked.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "WEB_ACCESS_LOG": "true"}  # fmt: skip
    log(f"$ {line}   (WEB_PORT={args.port}, stdout/stderr -> {log_path})")
    with open(log_path, "wb") as server_log:
        server = subprocess.Popen(
            ["/bin/sh", "-c", line],
            cwd=ROOT,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ready_s = wait_healthy(base, server, args.start_timeout)
        status, headers, body = get(base + ENDPOINT)
        if status != 200:
            raise RuntimeError(f"{ENDPOINT} answered {status}, not 200: {body[:200]!r}")
        etag = headers["ETag"]
        status_304 = get(base + ENDPOINT, {"If-None-Match": etag})[0]
        if status_304 != 304:
            raise RuntimeError(f"If-None-Match: {etag} answered {status_304}, not 304")
        offset = log_path.stat().st_size
        plain, offset = run_wrk(args, base + ENDPOINT, [], server.pid, log_path, offset)
        conditional, offset = run_wrk(
            args, base + ENDPOINT, [f"If-None-Match: {etag}"], server.pid, log_path, offset
        )
        after = get(base + ENDPOINT)[0]
    finally:
        stop_session(server)
    return {
        "command": line,
        "ready_s": ready_s,
        "body_bytes": len(body),
        "etag": etag,
        "plain": plain,
        "conditional": conditional,
        "status_after": after,
    }


def http_table(bench: dict, args) -> str:
    lines = [
        "| request | answer | requests/s | p50 | p90 | p99 | max | requests | non-2xx "
        "| wrk ≥400 / socket errors | daphne CPU | wrk CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, expected, run in (
        ("plain GET", "200", bench["plain"]),
        ("`If-None-Match: <ETag>`", "304", bench["conditional"]),
    ):
        statuses = run["statuses"]
        non_2xx = sum(count for code, count in statuses.items() if not code.startswith("2"))
        answer = ", ".join(f"{code}: {count:,}" for code, count in sorted(statuses.items()))
        non_2xx_text = f"{non_2xx:,}"
        if expected == "304":
            non_2xx_text += f" (all 304 expected: {statuses.get('304', 0):,})"
        lines.append(
            f"| {label} | {answer or expected} | {run['rps']:,.0f} | {run['p50']:.1f} ms "
            f"| {run['p90']:.1f} ms | {run['p99']:.1f} ms | {run['max']:.0f} ms "
            f"| {run['requests']:,} | {non_2xx_text} "
            f"| {run['over_399']} / {run['socket_errors']} | {run['daphne_cpu']:.0%} "
            f"| {run['wrk_cpu']:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the daily refresh")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the refresh's today (default: the library's local date)",
    )
    parser.add_argument("--start-timeout", type=float, default=60)
    parser.add_argument("--skip-refresh", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    # A plain kill still runs the `finally` that stops daphne.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    if not args.skip_http and shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian: apt-get install -y wrk)")
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    os.environ.update(bench_env(args))
    sys.path.insert(0, str(ROOT))
    log("manage.py migrate")
    manage("migrate", "--noinput")

    import django

    django.setup()
    from django.db import connections
    from django.utils import timezone

    today = args.today or timezone.localdate()
    info = machine_and_wrk()
    with connections["library"].cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        info["mariadb"] = cursor.fetchone()[0]
    refresh = None if args.skip_refresh else refresh_benchmark(args.runs, today)
    connections.close_all()
    http = None if args.skip_http else http_benchmark(args)

    print(
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
        f"MariaDB {info['mariadb']}, Python {info['python']}, {info['wrk']}."
    )
    print(f"Library database: `{args.database_url}`; Redis `{args.redis_url}`.")
    if refresh is not None:
        print()
        source = "--today" if args.today else "the library's local date"
        print(f"### Daily refresh: {args.runs} runs, today = {today.isoformat()} ({source})")
        print()
        print(refresh_tables(refresh))
        overhead = refresh["overhead"]
        print()
        print(
            "Counter reads made by the measurement itself, subtracted: "
            f"{sum(overhead[name] for name in HANDLER_READS)} Handler_read_*, "
            + ", ".join(f"{overhead[name]} {name}" for name in EXTRA_COUNTERS)
            + " per metric."
        )
    if http is not None:
        print()
        print(f"### {ENDPOINT} under `{http['plain']['command']}`")
        print()
        print(
            f"Server: `{http['command']}` (WEB_PORT={args.port}), /health answered 200 after "
            f"{http['ready_s']:.1f} s; body {http['body_bytes']:,} bytes, ETag "
            f"`{http['etag']}`."
        )
        print()
        print(http_table(http, args))
        print()
        print(
            f"Answer to a plain GET after the runs: {http['status_after']}. CPU columns are "
            f"core-seconds per second of wall time (100 % = one full core)."
        )


if __name__ == "__main__":
    main()
