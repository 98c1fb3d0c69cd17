"""One snapshot endpoint under wrk, answered 200 and answered 304, on the Procfile's web line.

    python -m bench.snapshot_endpoint [--database-url mysql://root@127.0.0.1:3306/bench_slims_5m]
                                      [--redis-url redis://127.0.0.1:6379/10] [--port 8765]
                                      [--duration 20] [--threads 2] [--connections 64]

The web server exactly as the Procfile's `web` line starts it, `manage.py prewarm --only
weekly`, then `wrk -t2 -c64 -d<duration>s --latency` on /api/visitors/weekly, once for 200
answers and once with If-None-Match set to the ETag (304 answers). Status codes are counted from
the server's access log (WEB_ACCESS_LOG=true: one line per request). CPU is core-seconds per
second of wall time, from /proc for the server's session and from getrusage for wrk. Needs wrk
(Debian: apt-get install -y wrk). Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.harness import proc, wrk
from bench.harness.environment import manage, migrate
from bench.harness.machine import describe, machine, wrk_version
from bench.harness.report import log
from bench.harness.services import (
    Service,
    http_get,
    path_with_venv,
    procfile,
    signals_end_the_run,
    wait_healthy,
)
from bench.snapshot_refresh import add_service_arguments, environment

ENDPOINT = "/api/visitors/weekly"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--start-timeout", type=float, default=60)


def access_log_statuses(log_path: Path, offset: int) -> tuple[Counter, int]:
    data = log_path.read_bytes()
    statuses = Counter(
        match.group(1).decode() for match in re.finditer(rb'"GET [^"]*" (\d{3}) ', data[offset:])
    )
    return statuses, len(data)


def load(args, url: str, headers: list[str], session_id: int, log_path: Path, offset: int):
    command = wrk.command(url, threads=args.threads, connections=args.connections,
                          seconds=args.duration, headers=headers)  # fmt: skip
    log("$ " + " ".join(command))
    cpu_before = proc.session_cpu_seconds(session_id)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr}")
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log(result.stdout)
    parsed = wrk.parse(result.stdout)
    parsed["daphne_cpu"] = (proc.session_cpu_seconds(session_id) - cpu_before) / elapsed
    parsed["wrk_cpu"] = (
        wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    ) / elapsed
    time.sleep(0.5)  # let the server flush the last access-log lines
    parsed["statuses"], offset = access_log_statuses(log_path, offset)
    parsed["command"] = " ".join(part if " " not in part else f"'{part}'" for part in command)
    return parsed, offset


def run(args: argparse.Namespace) -> dict:
    log("manage.py prewarm --only weekly")
    log(manage("prewarm", "--only", "weekly"))
    base = f"http://127.0.0.1:{args.port}"
    log_path = Path(args.data_dir).resolve() / "daphne-bench.log"
    line = procfile()["web"]
    # Statuses are counted from the access log, which the web command writes only when asked.
    env = {**os.environ, "PATH": path_with_venv(), "WEB_ACCESS_LOG": "true"}
    server = Service("web", line, env, log_path)
    try:
        ready_s = wait_healthy(base, [server], args.start_timeout)
        status, headers, body = http_get(base + ENDPOINT)
        if status != 200:
            raise RuntimeError(f"{ENDPOINT} answered {status}, not 200: {body[:200]!r}")
        etag = headers["ETag"]
        status_304 = http_get(base + ENDPOINT, {"If-None-Match": etag})[0]
        if status_304 != 304:
            raise RuntimeError(f"If-None-Match: {etag} answered {status_304}, not 304")
        offset = log_path.stat().st_size
        plain, offset = load(args, base + ENDPOINT, [], server.session, log_path, offset)
        conditional, offset = load(
            args, base + ENDPOINT, [f"If-None-Match: {etag}"], server.session, log_path, offset
        )
        after = http_get(base + ENDPOINT)[0]
    finally:
        server.stop(grace=10)
    return {
        "command": line,
        "ready_s": ready_s,
        "body_bytes": len(body),
        "etag": etag,
        "plain": plain,
        "conditional": conditional,
        "status_after": after,
    }


def table(bench: dict) -> str:
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


def report(bench: dict, port: int) -> str:
    return (
        f"### {ENDPOINT} under `{bench['plain']['command']}`\n\n"
        f"Server: `{bench['command']}` (WEB_PORT={port}), /health answered 200 after "
        f"{bench['ready_s']:.1f} s; body {bench['body_bytes']:,} bytes, ETag `{bench['etag']}`."
        f"\n\n{table(bench)}\n\n"
        f"Answer to a plain GET after the runs: {bench['status_after']}. CPU columns are "
        f"core-seconds per second of wall time (100 % = one full core)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.snapshot_endpoint",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args()
    signals_end_the_run()
    wrk.require()
    os.environ.update(environment(args, args.port))
    migrate()
    info = {**machine(), "wrk": wrk_version()}
    bench = run(args)
    print(describe(info))
    print(f"Library database: `{args.database_url}`; Redis `{args.redis_url}`.")
    print()
    print(report(bench, args.port))


if __name__ == "__main__":
    main()
