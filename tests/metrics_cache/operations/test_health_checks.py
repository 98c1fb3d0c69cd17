"""/health's checks, one by one: what each reports, in the contract's shape, and that probing
the library never slows or changes the service's own connection."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import caches
from django.db import connections

from config.libraries import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from metrics_cache.operations.health import fast_loop_current
from metrics_cache.today import loop
from tests.support.library import library_test

pytestmark = library_test

START = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


def at(**delta) -> time_machine.travel:
    return time_machine.travel(START + timedelta(**delta), tick=False)


def test_without_redis_the_503_still_reports_both_databases(library, client, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    caches.close_all()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"redis": "unreachable", "library_db": "ok", "app_db": "ok"},
    }


def test_the_fast_loop_check_has_the_contracts_fields_and_no_error_text(
    library, client, scratch_library, settings
):
    # The scratch database has no tables: the tick fails, and its error names the database.
    settings.VISITOR_SYNC_BUFFER_MS = 0
    assert loop.tick() == "error"
    fast_loop = client.get("/health").json()["checks"]["fast_loop"]
    assert set(fast_loop) == {"mode", "last_run_at", "last_duration_ms", "baseline"}
    assert scratch_library not in str(fast_loop)


def test_the_beat_containers_check_follows_the_fast_loop(library, settings):
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 5000
    settings.VISITOR_SYNC_BUFFER_MS = 0
    assert fast_loop_current() is False  # never ran
    with at():
        assert loop.tick() == "ok"
        assert fast_loop_current() is True
    with at(seconds=16):
        assert fast_loop_current() is False


def test_an_interval_under_a_second_still_gets_three_seconds_of_grace(library, client, settings):
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 500
    settings.VISITOR_SYNC_BUFFER_MS = 0
    with at():
        loop.tick()
    with at(seconds=3):
        assert fast_loop_current() is True
    with at(seconds=4):
        assert fast_loop_current() is False


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word (a hung database server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_a_hung_library_server_is_reported_within_the_probes_timeout(
    library, client, silent_server
):
    if connections["library"].vendor != "mysql":
        pytest.skip("the embedded SQLite library has no server to hang")
    library_settings = connections["library"].settings_dict
    saved = {k: library_settings[k] for k in ("HOST", "PORT")}
    library_settings.update(HOST="127.0.0.1", PORT=silent_server)
    started = time.monotonic()
    try:
        body = client.get("/health").json()
    finally:
        library_settings.update(saved)
    # The probe gives up after 2 s; the service's own connection would wait 5 s.
    assert time.monotonic() - started < 4.5
    assert body["checks"]["library_db"] == "unreachable"


def test_the_probe_leaves_the_services_library_connection_as_it_was(library, client):
    for _ in range(2):
        assert client.get("/health").json()["checks"]["library_db"] == "ok"
    # The probe's 2 s limits are its own: the service's connection keeps settings.py's (a
    # 2 s read limit there would fail the daily snapshots' longer statements).
    options = connections["library"].settings_dict["OPTIONS"]
    if connections["library"].vendor == "mysql":
        assert options["connect_timeout"] == CONNECT_TIMEOUT_SECONDS == 5
        assert options["read_timeout"] == READ_TIMEOUT_SECONDS > 2
    else:
        assert "read_timeout" not in options
