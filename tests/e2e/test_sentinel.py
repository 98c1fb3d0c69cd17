"""Redis Sentinel: a primary, a replica and three sentinels on loopback, the service's real
processes (web, worker, beat) reaching Redis through the sentinels. The primary is killed; once
the sentinels have promoted the replica, the snapshot endpoints answer with no 5xx, today's
count follows new check-ins (Celery's ticks run on the new primary), and SSE clients receive
updates again."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from django.utils import timezone

from bench.harness.processes import (
    free_port,
    service_env,
    start,
    start_beat,
    start_redis,
    start_web,
    start_worker,
    stop,
    wait_for,
)
from demo.writer import library_writer
from tests.e2e.faults import get
from tests.e2e.sse import SSEClient
from tests.support.library import LibraryRows

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

MASTER = "libdash-test"
SNAPSHOT_PATHS = ["/api/visitors/weekly", "/api/visitors/summary", "/api/books/summary"]


def start_sentinel(tmp, port: int, primary_port: int):
    config = tmp / f"sentinel-{port}.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
    )
    process = start(["redis-server", str(config), "--sentinel"], dict(os.environ),
                    tmp / f"sentinel-{port}.log")  # fmt: skip
    wait_for(lambda: _primary(port) is not None, 20, f"sentinel on {port}")
    return process


def _primary(sentinel_port: int) -> int | None:
    try:
        found = redis.Redis(port=sentinel_port, socket_timeout=1).sentinel_get_master_addr_by_name(
            MASTER
        )
    except redis.RedisError:
        return None
    return int(found[1]) if found else None


@pytest.fixture(scope="module")
def cluster(library_tables, django_db_blocker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentinel")
    primary_port, replica_port = free_port(), free_port()
    sentinel_ports = [free_port() for _ in range(3)]
    processes = {}
    try:
        processes["primary"] = start_redis(primary_port, tmp / "primary.log")
        processes["replica"] = start(
            ["redis-server", "--port", str(replica_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp), "--replicaof", "127.0.0.1",
             str(primary_port)],
            dict(os.environ), tmp / "replica.log",
        )  # fmt: skip
        wait_for(lambda: redis.Redis(port=replica_port).info("replication").get(
            "master_link_status") == "up", 20, "the replica in sync")  # fmt: skip
        for port in sentinel_ports:
            processes[f"sentinel-{port}"] = start_sentinel(tmp, port, primary_port)
        with django_db_blocker.unblock():
            env = service_env(tmp / "app.sqlite3")
            with library_writer() as writer:
                LibraryRows(writer).truncate()
        env.pop("CELERY_BROKER_URL")
        env.update(
            # The database numbers are REDIS_URL's; its host and port are unused.
            REDIS_URL="redis://127.0.0.1:1/0",
            REDIS_SENTINELS=",".join(f"127.0.0.1:{port}" for port in sentinel_ports),
            REDIS_SENTINEL_MASTER=MASTER,
            VISITOR_SYNC_MIN_INTERVAL_MS="1000",
            VISITOR_SYNC_BUFFER_MS="0",
            TODAY_COUNT_MODE="delta",
        )
        web_port = free_port()
        processes["web"] = start_web(env, web_port, tmp / "web.log")
        processes["worker"] = start_worker(env, tmp / "worker.log")
        processes["beat"] = start_beat(env, tmp / "beat.log")
        wait_for(lambda: get(web_port, "/api/visitors/weekly")[0] == 200, 90, "prewarm")
        yield {
            "web": web_port, "primary": primary_port, "replica": replica_port,
            "sentinels": sentinel_ports, "processes": processes, "tmp": tmp,
        }  # fmt: skip
    finally:
        for process in reversed(list(processes.values())):
            if process.poll() is None:
                stop(process)


def check_in(django_db_blocker) -> None:
    now = timezone.localtime().replace(tzinfo=None, microsecond=0)
    with django_db_blocker.unblock(), library_writer() as writer:
        LibraryRows(writer).visit(now.isoformat(sep=" "), name="Pengunjung")


def today_total(port: int) -> int | None:
    import json

    status, body = get(port, "/api/visitors/today")
    return json.loads(body)["total"] if status == 200 else None


def test_before_the_failover_everything_goes_through_the_primary(cluster, django_db_blocker):
    port = cluster["web"]
    before = today_total(port) or 0
    check_in(django_db_blocker)
    wait_for(lambda: today_total(port) == before + 1, 20, "the count through the primary")
    primary = redis.Redis(port=cluster["primary"])
    assert any(key.startswith(b"libdash:") for key in primary.scan_iter(count=1000))


def test_after_the_primary_dies_the_service_follows_the_new_one(cluster, django_db_blocker):
    port = cluster["web"]
    client = SSEClient(port)
    try:
        client.wait_for("init", 15)
        os.kill(cluster["processes"]["primary"].pid, signal.SIGKILL)
        cluster["processes"]["primary"].wait(timeout=10)
        killed = time.monotonic()
        wait_for(lambda: all(_primary(s) == cluster["replica"] for s in cluster["sentinels"]),
                 60, "the sentinels to promote the replica")  # fmt: skip
        promoted = time.monotonic() - killed
        # The failover is complete: from now on no snapshot endpoint answers 5xx.
        time.sleep(1)
        statuses = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            statuses += [get(port, path)[0] for path in SNAPSHOT_PATHS]
            time.sleep(0.2)
        assert not [s for s in statuses if s >= 500], statuses
        # Today's count keeps following check-ins: the ticks run through the new primary.
        before = today_total(port)
        check_in(django_db_blocker)
        wait_for(lambda: today_total(port) == (before or 0) + 1, 30, "the count after failover")
        # SSE clients receive updates again.
        check_in(django_db_blocker)
        update = client.wait_for("update", 30, lambda data: data["total"] >= (before or 0) + 2)
        assert update["total"] >= (before or 0) + 2
        new_primary = redis.Redis(port=cluster["replica"])
        assert new_primary.info("replication")["role"] == "master"
        assert promoted < 60
    finally:
        client.close()
