"""The whole system on loopback: daphne, a Celery worker and beat, MariaDB and its own Redis.

An SSE client sees visitor rows inserted into the library database; the stream survives a
Redis restart and a web restart; a worker back from downtime runs at most one stale tick.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import redis
from django.utils import timezone

from bench.harness.processes import queued_ticks, redis_refuses, wait_for
from demo.writer import library_writer
from metrics_cache.base import keys
from tests.e2e.sse import SSEClient
from tests.support.library import LibraryRows

INTERVAL_MS = 1000

# The library test database must exist for the processes even when this module runs alone.
pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)


@pytest.fixture
def visits(django_db_blocker):
    def add(count: int = 1) -> None:
        now = timezone.localtime().replace(tzinfo=None, microsecond=0)
        with django_db_blocker.unblock(), library_writer() as writer:
            rows = LibraryRows(writer)
            for _ in range(count):
                rows.visit(datetime.isoformat(now, sep=" "), name="Pengunjung E2E")

    return add


@pytest.fixture
def sse(system):
    client = SSEClient(system.web_port)
    yield client
    client.close()


def test_an_inserted_visit_reaches_the_browser(system, sse, visits):
    init = sse.wait_for("init", 30, lambda data: data["total"] is not None)
    visits(2)
    update = sse.wait_for(
        "update", 5 * INTERVAL_MS / 1000 + 5, lambda d: d["total"] >= init["total"] + 2
    )
    assert update["total"] == init["total"] + 2


def test_updates_resume_after_redis_restarts(system, sse, visits):
    sse.wait_for("init", 30, lambda data: data["total"] is not None)
    system.stop("redis")
    wait_for(lambda: redis_refuses(system.redis_port), 10, "redis refusing connections")
    system.start("redis")  # empty: no persistence, like a restarted cache
    visits(1)
    # Worker and beat reconnect, the delta baseline is rebuilt, the web fan-out resubscribes.
    first = sse.wait_for("update", 60, lambda data: data["total"] > 0)
    visits(1)
    sse.wait_for("update", 20, lambda data: data["total"] == first["total"] + 1)


def test_a_web_restart_reconnects_the_client_with_init(system, sse):
    sse.wait_for("init", 30)
    assert sse.connections == 1
    system.stop("web")
    system.start("web")
    again = sse.wait_for("init", 30)
    assert sse.connections == 2
    assert again["total"] is not None


def test_a_worker_back_from_downtime_runs_at_most_one_stale_tick(system, visits):
    broker = redis.Redis(port=system.redis_port, db=1)
    system.stop("worker")
    # Beat keeps queueing ticks while the worker is away.
    stale = wait_for(
        lambda: ticks if len(ticks := queued_ticks(broker)) >= 4 else None,
        30,
        "4 fast-loop ticks queued while the worker is down",
    )
    visits(1)
    system.start("worker")

    def handled() -> tuple[list, list] | None:
        log = system.log("worker")
        ran = [task for task in stale if re.search(rf"\[{task}\] succeeded", log)]
        dropped = [task for task in stale if re.search(rf"Discarding revoked task.*{task}", log)]
        return (ran, dropped) if len(ran) + len(dropped) == len(stale) else None

    ran, dropped = wait_for(handled, 30, "the worker to run or discard every stale tick")
    assert len(ran) <= 1, ran
    assert len(dropped) >= len(stale) - 1
    # And the count is right after the return.
    cache = redis.Redis(port=system.redis_port)
    with_count = wait_for(
        lambda: json.loads(cache.get(keys.today_count()) or "null"), 10, "a published count"
    )
    assert with_count["total"] >= 1
