"""Starting the service's real processes on loopback, every wait bounded (tests/e2e and bench/)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connections

ROOT = Path(__file__).resolve().parents[2]


def service_env(app_db: Path) -> dict[str, str]:
    """The environment of a process that shares this test's library database and Redis."""
    library = connections["library"].settings_dict
    if library["ENGINE"].endswith("mysql"):
        library_url = (
            f"mysql://{library['USER']}:{library['PASSWORD']}@{library['HOST']}:"
            f"{library['PORT'] or 3306}/{library['NAME']}"
        ).replace(":@", "@")
    else:
        library_url = f"sqlite:///{library['NAME']}"
    env = {
        **os.environ,
        "LIBRARY_DATABASE_URL": library_url,
        "DATABASE_URL": f"sqlite:///{app_db}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=120,
    )  # fmt: skip
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def start_worker(env: dict[str, str], log: Path, *, ready_within: float = 60,
                 pool: tuple[str, ...] = ("--pool", "solo"), name: str | None = None,
                 queues: str | None = None, app: str = "config") -> subprocess.Popen:  # fmt: skip
    """A Celery worker: one process (`solo`) unless `pool` says otherwise (prefork enforces the
    tasks' time limits); `name` as a host's (-n name@host); `queues` (-Q) instead of all;
    `app` the module of its Celery app (the service's unless a bench or test wraps it)."""
    process = start(
        [sys.executable, "-m", "celery", "--app", app, "worker", *pool,
         *(["-n", name] if name else []), *(["-Q", queues] if queues else []),
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        env, log,
    )  # fmt: skip
    try:
        wait_for(lambda: b"ready." in log.read_bytes(), ready_within, f"worker ready ({log})")
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (the web command's daphne processes)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def wait_for(condition, seconds: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_answering(command: list[str], env: dict[str, str], url: str, *, cwd: Path = ROOT,
                    within: float = 60) -> subprocess.Popen:  # fmt: skip
    """Starts `command` with its output discarded and waits until `url` answers 200."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited ({process.returncode}) before {url} answered")
        return answers(url)

    wait_for(ready, within, url)
    return process


def venv_command(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def start_redis(port: int, log: Path) -> subprocess.Popen:
    import redis

    process = start(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(log.parent)],
        dict(os.environ), log,
    )  # fmt: skip

    def answers() -> bool:
        try:
            return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    wait_for(answers, 20, f"redis-server on port {port}")
    return process


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    import urllib.request

    # The Procfile's web command (config/web.py: its daphne processes, their event loop).
    process = start(
        [sys.executable, "-m", "config.web", "--bind", "127.0.0.1", "--port", str(port)],
        {"WEB_CONCURRENCY": "1", **env}, log,
    )  # fmt: skip

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 60, f"daphne on port {port} ({log})")
    except BaseException:
        stop(process)  # never left behind serving a failed test's settings
        raise
    return process


def start_beat(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start(
        [sys.executable, "-m", "celery", "--app", "config", "beat", "--loglevel", "INFO",
         "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
        env, log,
    )  # fmt: skip


def redis_refuses(port: int) -> bool:
    import redis

    try:
        redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return True
    return False


def queued_ticks(broker) -> list[str]:
    """Ids of the fast-loop ticks waiting on the broker (the exact recount's messages live
    longer by design, so they are not counted)."""
    import json

    from config.services import LIVE_QUEUE

    return [
        message["headers"]["id"]
        for message in map(json.loads, broker.lrange(LIVE_QUEUE, 0, -1))
        if message["headers"]["task"] == "metrics_cache.sync_today"
    ]
