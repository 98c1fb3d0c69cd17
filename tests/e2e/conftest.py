"""The whole system on loopback for end-to-end tests: its own Redis, daphne, worker, beat."""

from __future__ import annotations

import re

import pytest

from bench.harness.processes import (
    free_port,
    service_env,
    start_beat,
    start_redis,
    start_web,
    start_worker,
    stop,
    wait_for,
)
from demo.writer import library_writer
from tests.support.library import LibraryRows

INTERVAL_MS = 1000


class System:
    def __init__(self, tmp, env, redis_port, web_port):
        self.tmp, self.env, self.redis_port, self.web_port = tmp, env, redis_port, web_port
        self.processes = {}

    def start(self, name: str) -> None:
        log = self.tmp / f"{name}.log"
        if name == "redis":
            self.processes[name] = start_redis(self.redis_port, log)
        elif name == "web":
            self.processes[name] = start_web(self.env, self.web_port, log)
        elif name == "worker":
            self.processes[name] = start_worker(self.env, log)
        elif name == "beat":
            self.processes[name] = start_beat(self.env, log)

    def stop(self, name: str) -> None:
        stop(self.processes.pop(name))

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")


def start_system(django_db_blocker, tmp_path_factory, *, seed=None, library_port=None):
    """Starts redis, web, worker and beat against the (emptied, then seeded) test library,
    reached through `library_port` when given (a proxy the test can cut)."""
    tmp = tmp_path_factory.mktemp("live")
    redis_port, web_port = free_port(), free_port()
    with django_db_blocker.unblock():
        env = service_env(tmp / "app.sqlite3")
        with library_writer() as writer:
            rows = LibraryRows(writer)
            rows.truncate()
            if seed:
                seed(rows)
    env.pop("CELERY_BROKER_URL")
    if library_port is not None:
        env["LIBRARY_DATABASE_URL"] = re.sub(
            r"@([^:/]+):\d+/", f"@127.0.0.1:{library_port}/", env["LIBRARY_DATABASE_URL"]
        )
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        VISITOR_SYNC_MIN_INTERVAL_MS=str(INTERVAL_MS),
        VISITOR_SYNC_BUFFER_MS="0",
        TODAY_COUNT_MODE="delta",
    )
    running = System(tmp, env, redis_port, web_port)
    try:
        for name in ("redis", "web", "worker", "beat"):
            running.start(name)
        # The worker's start-up tasks over before any test stops Redis: Redis going away while
        # one is in flight can crash Celery's worker outright (kombu restoring unacked
        # messages: AttributeError 'hostname'), which no test here is about.
        for task in ("prewarm", "fold_rollups"):
            wait_for(lambda t=task: startup_task_done(running.log("worker"), t), 90, task)
    except BaseException:
        running.stop_all()
        raise
    return running


def startup_task_done(log: str, task: str) -> bool:
    return any(f"metrics_cache.{task}[" in line and " succeeded in " in line
               for line in log.splitlines())  # fmt: skip


@pytest.fixture(scope="module")
def system(library_tables, django_db_blocker, tmp_path_factory):
    running = start_system(django_db_blocker, tmp_path_factory)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """pytest-randomly shuffles the suite; each end-to-end module, though, is one scenario on one
    running system (a fault, then the recovery the next test starts from), so its tests keep the
    order they are written in, in the places the shuffle gave the module."""
    slots = [i for i, item in enumerate(items) if item.nodeid.startswith("tests/e2e/")]
    written = sorted((items[i] for i in slots), key=lambda item: (item.path, item.location[1]))
    for slot, item in zip(slots, written, strict=True):
        items[slot] = item
