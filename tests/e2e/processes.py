"""Starting the service's real processes on loopback for end-to-end tests, every wait bounded."""

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


def start_worker(env: dict[str, str], log: Path, *, ready_within: float = 60) -> subprocess.Popen:
    process = start(
        [sys.executable, "-m", "celery", "--app", "config", "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        env, log,
    )  # fmt: skip
    wait_for(lambda: b"ready." in log.read_bytes(), ready_within, f"worker ready ({log})")
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def wait_for(condition, seconds: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")
