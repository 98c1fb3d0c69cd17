"""/health: 503 without Redis; otherwise ok, or degraded with the reason visible."""

from __future__ import annotations

import contextlib
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.db.backends.signals import connection_created

from metrics_cache.base import keys
from metrics_cache.base import redis as base_redis
from metrics_cache.operations import health
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.today import loop
from tests.support.library import library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    """The clock stopped at a Jakarta wall-clock time."""
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


@pytest.mark.django_db
def test_health_503_when_redis_does_not_answer(client, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"] == "unreachable"
    assert "127.0.0.1:1" not in response.content.decode()


@pytest.mark.parametrize("path", ["/health/", "/healthz"])
def test_health_path_is_exact(client, path):
    assert client.get(path).status_code == 404


@library_test[0]
@library_test[1]
class TestHealth:
    def test_degraded_until_snapshots_and_the_fast_loop_exist(self, library, client):
        body = client.get("/health").json()
        assert body["status"] == "degraded"
        assert body["checks"]["redis"] == "ok"
        assert body["checks"]["library_db"] == "ok"
        assert body["checks"]["app_db"] == "ok"
        assert set(body["checks"]["snapshots"]) == {m.name for m in METRICS}
        assert body["checks"]["snapshots"]["weekly"] == {"age_seconds": None, "stale": True}

    def test_ok_when_everything_is_current(self, library, client, settings):
        settings.VISITOR_SYNC_BUFFER_MS = 0
        library.visit("2026-11-24 23:59:59")
        library.visit("2026-11-25 08:00:00")
        last_today = library.visit("2026-11-25 09:30:00")
        with at(2026, 11, 25, 10, 0):
            call_command("prewarm", stdout=StringIO())
            assert loop.tick() == "ok"
            response = client.get("/health")
        body = response.json()
        assert response.status_code == 200
        assert body["status"] == "ok", body
        fast_loop = body["checks"]["fast_loop"]
        assert fast_loop["mode"] == "delta"
        assert fast_loop["last_run_at"].startswith("2026-11-25T03:00:00")  # 10:00 in Jakarta, UTC
        assert fast_loop["last_duration_ms"] is not None
        # The day's baseline (contract): today's 2 visits and the highest visitor_id counted.
        assert fast_loop["baseline"] == {"id": last_today, "count": 2}
        assert body["checks"]["snapshots"]["weekly"] == {"age_seconds": 0, "stale": False}

    def test_degraded_when_the_library_database_is_unreachable(self, library, client):
        call_command("prewarm", stdout=StringIO())
        loop.tick()
        assert client.get("/health").json()["checks"]["library_db"] == "ok"
        with unreachable_library():
            # The fast loop finds the library gone; /health reports what it saw.
            base_redis.client().delete(keys.today_cooldown())
            assert loop.tick() == "error"
            body = client.get("/health").json()
        assert body["checks"]["library_db"] == "unreachable"
        assert body["status"] == "degraded"

    def test_without_the_fast_loop_it_probes_at_most_once_per_window(
        self, library, client, monkeypatch
    ):
        opened = []

        def count(sender, connection, **kwargs):
            opened.append(connection.alias)

        connection_created.connect(count)
        try:
            bodies = [client.get("/health").json() for _ in range(20)]
        finally:
            connection_created.disconnect(count)
        assert {body["checks"]["library_db"] for body in bodies} == {"ok"}
        assert [alias for alias in opened if alias.startswith("library")] == ["library-health"]
        # Once the window is over, a library that went away is noticed by the next probe.
        monkeypatch.setattr(health, "PROBE_EVERY_SECONDS", 0)
        with unreachable_library():
            assert client.get("/health").json()["checks"]["library_db"] == "unreachable"


@contextlib.contextmanager
def unreachable_library():
    library_settings = connections["library"].settings_dict
    saved = {k: library_settings[k] for k in ("HOST", "PORT", "NAME")}
    connections["library"].close()
    if connections["library"].vendor == "mysql":
        library_settings.update(HOST="127.0.0.1", PORT=1)  # a closed port
    else:
        library_settings.update(NAME="/nonexistent/dir/library.sqlite3")
    try:
        yield
    finally:
        connections["library"].close()
        library_settings.update(saved)


@pytest.fixture(autouse=True)
def _no_remembered_probes():
    health.forget_probes()
    yield
    health.forget_probes()
