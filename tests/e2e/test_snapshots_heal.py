"""With a real Celery worker: a flushed Redis gives 202s that heal without anyone acting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_redis import get_redis_connection

from bench.harness.processes import service_env, start_worker, stop, wait_for


@pytest.mark.django_db(databases=["default", "library"], transaction=True)
def test_flushed_redis_heals_itself(library, client, broker, tmp_path):
    yesterday = timezone.localdate() - timedelta(days=1)
    library.visit(f"{yesterday} 10:00:00")
    library.visit(f"{yesterday} 11:00:00")
    worker = start_worker(service_env(tmp_path / "app.sqlite3"), tmp_path / "worker.log")
    try:
        # The worker's start-up prewarm fills the cache by itself.
        first = wait_for(
            lambda: (r := client.get("/api/visitors/weekly")).status_code == 200 and r,
            90, "the start-up prewarm",
        )  # fmt: skip
        assert first.json()["data"][-1] == {"date": yesterday.isoformat(), "total": 2}

        get_redis_connection("default").flushdb()
        assert client.get("/api/visitors/weekly").status_code == 202
        healed = wait_for(
            lambda: (r := client.get("/api/visitors/weekly")).status_code == 200 and r,
            60, "the queued refresh after a flush",
        )  # fmt: skip
        assert healed.content == first.content  # restored from the last good payload
        # The worker logs the restore just after storing it: the line may trail the answer.
        log = tmp_path / "worker.log"
        wait_for(lambda: b"restored from its last good payload" in log.read_bytes(), 10, "the log")
    finally:
        stop(worker)
