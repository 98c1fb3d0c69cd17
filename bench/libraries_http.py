"""GET /api/libraries over HTTP with many libraries, against a bare ASGI app on the same server
answering the same bytes, in alternating rounds:

    .venv/bin/python -m bench.libraries_http --libraries 503 --requests 250 --rounds 4

The libraries are listed in a LIBRARIES_FILE whose databases are never opened (the listing
reads Redis alone); each gets a published count and a fast loop's status in a redis-server of
the bench's own. The service runs as the Procfile's `web` line does (config/web.py, one
process); the yardstick is bench/baselines/bare_asgi.py on daphne, one Redis GET of the
service's own answer per request. Each round is --requests sequential requests on one
connection at a time (as a dashboard or a script asks); printed as Markdown: p50 and p99 of
each, and their ratio."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from redis import Redis

from bench.harness.processes import ROOT, free_port, start_answering, start_redis, stop
from bench.harness.report import log, percentile


def write_libraries(path: Path, count: int) -> None:
    """`count` libraries on a database port nothing listens on (never opened here)."""
    path.write_text("".join(
        f'[libraries.sch-{n:03d}]\nname = "SD Negeri {n}"\n'
        f'database_url = "mysql://reader@127.0.0.1:1/slims_{n:03d}"\n'
        f'time_zone = "{"Asia/Jayapura" if n % 25 == 0 else "Asia/Jakarta"}"\n\n'
        for n in range(1, count + 1)
    ))  # fmt: skip


def publish_every_count(env: dict[str, str]) -> None:
    """In this process, with the service's settings: each library's count and loop status in
    Redis, as its fast loop leaves them."""
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone

    from config.library import all_libraries, serving
    from metrics_cache.base import keys
    from metrics_cache.base.redis import client

    redis, now = client(), timezone.now()
    for number, library in enumerate(all_libraries()):
        with serving(library):
            count = {"total": number, "date": timezone.localdate().isoformat(),
                     "generated_at": timezone.localtime().isoformat()}  # fmt: skip
            redis.set(keys.today_count(library), json.dumps(count))
        status = {"error": "", "last_success_at": now.isoformat()}
        redis.hset(keys.today_loop_status(library), mapping=status)


def timed(url: str, requests: int) -> list[float]:
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", type=int, default=503)
    parser.add_argument("--requests", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-libraries-http-"))
    write_libraries(work / "libraries.toml", args.libraries)
    redis_port, web_port, bare_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "LIBRARIES_FILE": str(work / "libraries.toml"),
        "DATA_DIR": str(work),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SECRET_KEY": "bench",
        "ENV_FILE": "/dev/null",
        "WEB_CONCURRENCY": "1",
        "THROTTLE_ANON_RATE": "100000000/min",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    for name in ("LIBRARY_DATABASE_URL", "DATABASE_URL", "CELERY_BROKER_URL", "MYSQL_HOST"):
        env.pop(name, None)
    processes = [start_redis(redis_port, work / "redis.log")]
    try:
        publish_every_count(env)
        service = f"http://127.0.0.1:{web_port}/api/libraries"
        command = [sys.executable, "-m", "config.web", "--bind", "127.0.0.1", "--port",
                   str(web_port)]  # fmt: skip
        processes.append(start_answering(command, env, service))
        with urllib.request.urlopen(service, timeout=10) as answer:
            body = answer.read()
        Redis(port=redis_port).set("bench:bare:libraries", body)
        bare = f"http://127.0.0.1:{bare_port}/"
        bare_env = {**env, "BARE_REDIS_URL": env["REDIS_URL"], "BARE_KEY": "bench:bare:libraries"}
        processes.append(start_answering(
            [sys.executable, "-m", "daphne", "--port", str(bare_port),
             "bench.baselines.bare_asgi:application"], bare_env, bare, cwd=ROOT,
        ))  # fmt: skip
        timed(service, 20), timed(bare, 20)  # warm both
        results: dict[str, list[float]] = {"service": [], "bare": []}
        for number in range(args.rounds):
            order = ("service", "bare") if number % 2 == 0 else ("bare", "service")
            for name in order:
                took = timed(service if name == "service" else bare, args.requests)
                results[name] += took
                log(f"round {number + 1} {name}: p50 {percentile(took, 50):.1f} ms, "
                    f"p99 {percentile(took, 99):.1f} ms")  # fmt: skip
    finally:
        for process in reversed(processes):
            stop(process)
    print(f"{args.libraries} libraries, a {len(body):,}-byte answer, {args.rounds} alternating "
          f"rounds of {args.requests} sequential requests each\n")  # fmt: skip
    print("| | p50 | p99 | max |\n|---|---:|---:|---:|")
    for name, label in (("service", "`GET /api/libraries`"), ("bare", "bare ASGI, same bytes")):
        took = results[name]
        print(f"| {label} | {percentile(took, 50):.1f} ms | {percentile(took, 99):.1f} ms "
              f"| {max(took):.1f} ms |")  # fmt: skip
    ratio = percentile(results["service"], 50) / percentile(results["bare"], 50)
    print(f"\nservice / bare at the median: {ratio:.2f}x")


if __name__ == "__main__":
    main()
