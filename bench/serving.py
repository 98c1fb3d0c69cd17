"""Cached reads: the service's fast path against a bare ASGI app on the same server, and against
a plain Node server (Fastify + ioredis), in alternating runs.

    python -m bench.serving [--duration 10s] [--rounds 4] [--connections 64]
                            [--redis-url redis://127.0.0.1:6379/11] [--peer-dir bench/.peer]

Every server answers the same bytes: the Node yardstick's weekly payload (`node seed.js --out`)
is stored as the service's weekly snapshot (as a daily job stores it) and under the bare app's
key. The service runs as the Procfile's `web` line does (config/web.py, with WEB_CONCURRENCY
processes) and with its throttle on (counting every request; the limit high enough that one load
generator is not refused). bench/baselines/compare.sh alternates A B, B A, ... and prints median
ratios; this script collects them as Markdown on stdout (progress on stderr).

The Node yardstick (bench/baselines/node/) is copied into --peer-dir, a folder git ignores, and
its pinned packages are installed there with `npm ci` from the npm registry the first time (and
whenever its lockfile changes). Needs node >= 20 with npm, and wrk (bench/baselines/load.sh
installs it with apt-get when run as root).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness.machine import machine
from bench.harness.processes import ROOT, free_port, start_answering, stop
from bench.harness.report import log

BASELINES = ROOT / "bench" / "baselines"
NODE_FILES = ("package.json", "package-lock.json", "server.js", "seed.js")
BARE_KEY = "bench:bare:weekly"


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
    code = (
        "import sys, django; django.setup()\n"
        "from django.utils import timezone\n"
        "from metrics_cache.base.redis import client\n"
        "from metrics_cache.snapshots import store\n"
        "from metrics_cache.snapshots.registry import BY_NAME\n"
        "from metrics_cache.today.publishing import publish\n"
        "payload = sys.stdin.buffer.read()\n"
        "store.write(BY_NAME['weekly'], payload, timezone.localtime())\n"
        f"client().set({BARE_KEY!r}, payload)\n"
        "publish(1234, timezone.localdate(), ttl=86400)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, input=payload, check=True,
                   timeout=120)  # fmt: skip


def redis_location(url: str) -> dict[str, str]:
    """--redis-url as the Node yardstick's environment (it keeps its keys in the same database)."""
    parts = urlsplit(url)
    return {"REDIS_HOST": parts.hostname or "127.0.0.1", "REDIS_PORT": str(parts.port or 6379),
            "REDIS_DB": parts.path.strip("/") or "0"}  # fmt: skip


def install_node_yardstick(peer: Path) -> Path:
    """Copies the Node yardstick into `peer` and installs its pinned packages there (`npm ci`)
    unless the same lockfile is installed already; returns `peer`."""
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is not on PATH: the Node yardstick needs node >= 20 and npm")
    peer.mkdir(parents=True, exist_ok=True)
    for name in NODE_FILES:
        shutil.copyfile(BASELINES / "node" / name, peer / name)
    lockfile = hashlib.sha256((peer / "package-lock.json").read_bytes()).hexdigest()
    stamp = peer / "node_modules" / ".installed-lockfile"
    if not stamp.exists() or stamp.read_text() != lockfile:
        log(f"npm ci in {peer}")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer, check=True,
                       stdout=sys.stderr)  # fmt: skip
        stamp.write_text(lockfile)
    return peer


def compare(args, a_url: str, a_pid: int, b_url: str, b_pid: int, path: str, peer_path: str):
    env = {**os.environ, "CANDIDATE_PID": str(a_pid), "PEER_PID": str(b_pid),
           "PEER_PATH": peer_path}  # fmt: skip
    command = [str(BASELINES / "compare.sh"), a_url, b_url, path,
               str(args.connections), args.duration, str(args.rounds)]  # fmt: skip
    # compare.sh's progress and errors (a load run that failed) go to stderr as they happen.
    output = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
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
    parser = argparse.ArgumentParser(
        prog="python -m bench.serving", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--peer-dir",
        default=str(ROOT / "bench" / ".peer"),
        help="where the Node yardstick is installed (ignored by git)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    peer = install_node_yardstick(Path(args.peer_dir).resolve())
    with tempfile.TemporaryDirectory() as out:
        where = redis_location(args.redis_url)
        seed = ["node", "seed.js", "--host", where["REDIS_HOST"], "--port", where["REDIS_PORT"],
                "--db", where["REDIS_DB"], "--out", out]  # fmt: skip
        subprocess.run(seed, cwd=peer, check=True, capture_output=True)
        payload = (Path(out) / "visitors_weekly.json").read_bytes()
    prepare(args, payload)
    rows = []
    bare_port = free_port()
    # The same server as the service's: config.daphne (daphne on the same event loop), no
    # access log.
    bare_command = [sys.executable, "-m", "config.daphne", "--port", str(bare_port), "-v", "0",
                    "bench.baselines.bare_asgi:application"]  # fmt: skip
    bare_env = {**os.environ, "BARE_REDIS_URL": args.redis_url, "BARE_KEY": BARE_KEY}
    bare = start_answering(bare_command, bare_env, f"http://127.0.0.1:{bare_port}/")
    try:
        for workers in (1, 2):
            port, node_port = free_port(), free_port()
            base, node_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{node_port}"
            web = start_answering([sys.executable, "-m", "config.web", "--port", str(port)],
                                  service_env(args, workers),
                                  f"{base}/api/visitors/weekly")  # fmt: skip
            node = None
            try:
                node = start_answering(["node", "server.js"],
                                       {**os.environ, "WORKERS": str(workers),
                                        "PORT": str(node_port), "NODE_ENV": "production",
                                        **redis_location(args.redis_url)},
                                       f"{node_base}/api/visitors/weekly", cwd=peer)  # fmt: skip
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
                if node is not None:
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
