"""Cached reads: the service's fast path against a bare ASGI app on the same daphne, and
against the plain Node server (Fastify + ioredis) in ../shared/peer, in alternating runs.

Usage: .venv/bin/python bench/serving.py [--peer-dir /work/peer-bench] [--duration 10s]
                                         [--rounds 4] [--connections 64]
                                         [--redis-url redis://127.0.0.1:6379/11]

Every server answers the same bytes: the peer's weekly payload (`node seed.js --out`) is stored
as the service's weekly snapshot (through snapshots._store, as a daily job stores it) and under
the bare app's key. The service runs as the Procfile's `web` line does (config/web.py, with
WEB_CONCURRENCY processes) and with its throttle on (counting every request; the limit high
enough that one load generator is not refused). `compare.sh` alternates A B, B A, ... and prints
median ratios; this script collects them as Markdown on stdout (progress on stderr).

Needs wrk (apt-get install -y wrk) and the peer copied out of the repository with its
packages installed (see ../shared/peer/README.md).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402
from bench.harness.processes import free_port, stop, wait_for  # noqa: E402

BARE_KEY = "bench:bare:weekly"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def service_env(args, workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_KEY": "bench",
        "DATA_DIR": str((ROOT / "var" / "bench-serving").resolve()),
        "REDIS_URL": args.redis_url,
        "THROTTLE_ANON_RATE": "100000000/min",
        "WEB_CONCURRENCY": str(workers),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def prepare(args, payload: bytes) -> None:
    env = service_env(args, 1)
    Path(env["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                   check=True, timeout=300)  # fmt: skip
    store = (
        "import sys, django; django.setup()\n"
        "from django.utils import timezone\n"
        "from metrics_cache import snapshots, today\n"
        "from metrics_cache.registry import BY_NAME\n"
        "payload = sys.stdin.buffer.read()\n"
        "snapshots._store(BY_NAME['weekly'], payload, timezone.localtime())\n"
        f"snapshots.redis().set({BARE_KEY!r}, payload)\n"
        "today.publish(1234, timezone.localdate(), ttl=86400)\n"
    )
    subprocess.run([sys.executable, "-c", store], cwd=ROOT, env=env, input=payload, check=True,
                   timeout=120)  # fmt: skip


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(command: list[str], env: dict[str, str], cwd: Path, url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(lambda: answers(url), 60, url)
    return process


def compare(args, a_url: str, a_pid: int, b_url: str, b_pid: int, path: str, peer_path: str):
    env = {**os.environ, "CANDIDATE_PID": str(a_pid), "PEER_PID": str(b_pid),
           "PEER_PATH": peer_path}  # fmt: skip
    command = [str(Path(args.peer_dir) / "compare.sh"), a_url, b_url, path,
               str(args.connections), args.duration, str(args.rounds)]  # fmt: skip
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    log(output)
    figures = {}
    for side in ("candidate", "peer"):
        line = next(line for line in output.splitlines() if re.match(rf"{side}\s+http", line))
        rps, p99, cpu = re.search(
            r"median ([\d.]+) req/s\s+median p99 ([\d.]+) ms\s+median CPU-us/req (\S+)", line
        ).groups()
        figures[side] = (float(rps), float(p99), cpu)
    figures["ratio"] = re.search(r"RATIO candidate/peer req/s = (\S+)", output).group(1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-dir", default=str(ROOT.parent / "peer-bench"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    peer = Path(args.peer_dir)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["node", "seed.js", "--out", out], cwd=peer / "fastify", check=True,
                       capture_output=True)  # fmt: skip
        payload = (Path(out) / "visitors_weekly.json").read_bytes()
    prepare(args, payload)
    rows = []
    bare_port = free_port()
    # The same server as the service's: config.daphne (daphne on the same event loop), no
    # access log.
    bare_command = [sys.executable, "-m", "config.daphne", "--port", str(bare_port), "-v", "0",
                    "bench.baselines.bare_asgi:application"]  # fmt: skip
    bare_env = {**os.environ, "BARE_REDIS_URL": args.redis_url, "BARE_KEY": BARE_KEY}
    bare = start(bare_command, bare_env, ROOT, f"http://127.0.0.1:{bare_port}/")
    try:
        for workers in (1, 2):
            port, node_port = free_port(), free_port()
            web = start([sys.executable, "-m", "config.web", "--port", str(port)],
                        service_env(args, workers), ROOT,
                        f"http://127.0.0.1:{port}/api/visitors/weekly")  # fmt: skip
            node = start(["node", "server.js"],
                         {**os.environ, "WORKERS": str(workers), "PORT": str(node_port),
                          "NODE_ENV": "production"}, peer / "fastify",
                         f"http://127.0.0.1:{node_port}/api/visitors/weekly")  # fmt: skip
            base, node_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{node_port}"
            try:
                if workers == 1:
                    for path in ("/api/visitors/weekly", "/api/visitors/today"):
                        log(f"service ({path}) vs bare ASGI on daphne")
                        rows.append((f"`{path}`, 1 process", "bare ASGI app, same daphne",
                                     compare(args, base, web.pid, f"http://127.0.0.1:{bare_port}",
                                             bare.pid, path, "/")))  # fmt: skip
                log(f"service vs Node, {workers} process(es)")
                rows.append((f"`/api/visitors/weekly`, WEB_CONCURRENCY={workers}",
                             f"Node (Fastify + ioredis), WORKERS={workers}",
                             compare(args, base, web.pid, node_base, node.pid,
                                     "/api/visitors/weekly", "/api/visitors/weekly")))  # fmt: skip
            finally:
                stop(web)
                stop(node)
    finally:
        stop(bare)
    info = machine()
    print(f"Machine: {info['nproc']} cores, {info['cpu']}, {info['memory']}, Python "
          f"{info['python']}; wrk -t2 -c{args.connections} -d{args.duration}, "
          f"{args.rounds} alternating rounds (compare.sh), medians.\n")  # fmt: skip
    print(
        "| service | against | service req/s | p99 ms | CPU µs/req | other req/s | p99 ms "
        "| CPU µs/req | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for what, against, figures in rows:
        (a_rps, a_p99, a_cpu), (b_rps, b_p99, b_cpu) = figures["candidate"], figures["peer"]
        print(f"| {what} | {against} | {a_rps:,.0f} | {a_p99:.0f} | {a_cpu} | {b_rps:,.0f} "
              f"| {b_p99:.0f} | {b_cpu} | {figures['ratio']} |")  # fmt: skip


if __name__ == "__main__":
    main()
