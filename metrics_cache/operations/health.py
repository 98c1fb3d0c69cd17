"""/health: can the service serve, and is what it serves current?"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from redis.exceptions import RedisError

from config.library import LIBRARY_ALIAS, all_libraries, current, serving
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.reports.lookups import status as lookup_status
from metrics_cache.rollups import jobs
from metrics_cache.snapshots import store
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.today.loop import loop_status

# The library check must answer fast even when the server does not.
LIBRARY_CHECK_TIMEOUT_SECONDS = 2
# Screens never reach SLiMS: /health reports what the fast loop last saw, and probes itself
# (when the loop is not running) at most once per this many seconds in each process.
PROBE_EVERY_SECONDS = 10

_probes: dict[str, tuple[float, str]] = {}  # check -> (monotonic time, result)
_probe_lock = threading.Lock()


def _probed(check: str, probe) -> str:
    """`probe()`'s result, shared by every request of this process for PROBE_EVERY_SECONDS."""
    with _probe_lock:  # concurrent requests wait for one probe rather than each making one
        at, result = _probes.get(check, (float("-inf"), ""))
        if time.monotonic() - at >= PROBE_EVERY_SECONDS:
            result = probe()
            _probes[check] = (time.monotonic(), result)
        return result


def forget_probes() -> None:
    """Tests start without this process's remembered probe results."""
    with _probe_lock:
        _probes.clear()


def _library_db(loop: dict | None) -> str:
    """As the fast loop last observed it while the loop runs; else a (rationed) probe."""
    if loop is not None and loop["last_run_at"] and not _is_behind(loop["last_run_at"]):
        return "unreachable" if loop["error"] else "ok"
    return _probed(f"library_db:{current().slug}", _probe_library_db)


def _probe_library_db() -> str:
    reader = connections[current().alias]
    settings_dict = {**reader.settings_dict, "OPTIONS": {**reader.settings_dict["OPTIONS"]}}
    if reader.vendor == "mysql":
        settings_dict["OPTIONS"].update(
            connect_timeout=LIBRARY_CHECK_TIMEOUT_SECONDS,
            read_timeout=LIBRARY_CHECK_TIMEOUT_SECONDS,
        )
    # The alias only names this throw-away connection.
    probe = type(reader)(settings_dict, alias=f"{LIBRARY_ALIAS}-health")  # pragma: no mutate
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError:
        return "unreachable"
    finally:
        probe.close()


def _app_db() -> str:
    return _probed("app_db", _probe_app_db)


def _probe_app_db() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError:
        return "unreachable"


def _is_behind(last: str | None) -> bool:
    interval = settings.VISITOR_SYNC_MIN_INTERVAL_MS / 1000
    return last is None or (
        timezone.now() - datetime.fromisoformat(last)
    ).total_seconds() > 3 * max(interval, 1)


def _fast_loop(status: dict) -> tuple[dict, bool]:
    status = dict(status)
    last = status.pop("last_success_at")
    status.pop("error", None)
    return status, _is_behind(last)


def fast_loop_current() -> bool:
    """True while beat schedules ticks and a worker runs them (the containers' beat check)."""
    return not _fast_loop(loop_status())[1]


def _snapshots() -> dict:
    now = timezone.now()
    ages = {}
    for metric in METRICS:
        stored = store.read(metric.name)
        if stored is None:
            ages[metric.name] = {"age_seconds": None, "stale": True}
            continue
        age = int((now - stored.generated_at).total_seconds())
        ages[metric.name] = {"age_seconds": age, "stale": age > keys.STALE_AFTER_SECONDS}
    return ages


def _rollups() -> dict:
    try:
        return jobs.status()
    except DatabaseError:
        return {"error": "the service's database is unreachable"}


def _lookups() -> dict:
    """{table: "ok", "not copied yet", or why it cannot be read and the GRANT that fixes it}."""
    try:
        return lookup_status()
    except DatabaseError:
        return {"error": "the service's database is unreachable"}


def report() -> tuple[int, dict]:
    """(HTTP status, body): 503 when Redis is unreachable, else 200 ok or degraded."""
    try:
        client().ping()
        loop = loop_status()
    except RedisError:
        checks = {"redis": "unreachable", "library_db": _library_db(None), "app_db": _app_db()}
        return 503, {"status": "unavailable", "checks": checks}
    fast_loop, behind = _fast_loop(loop)
    checks = {
        "redis": "ok",
        "library_db": _library_db(loop),
        "app_db": _app_db(),
        "fast_loop": fast_loop,
        "snapshots": _snapshots(),
        # Until a first build is over its state is "building", with its progress (0..1);
        # snapshots are computed by scanning SLiMS meanwhile.
        "rollups": _rollups(),
        # The names the reports show; a table missing or not granted leaves codes without names
        # and does not degrade the service.
        "lookups": _lookups(),
    }
    degraded = (
        checks["library_db"] != "ok"
        or checks["app_db"] != "ok"
        or behind
        or any(snapshot["stale"] for snapshot in checks["snapshots"].values())
    )
    return 200, {"status": "degraded" if degraded else "ok", "checks": checks}


def deployment_report() -> tuple[int, dict]:
    """/health: with one library its report; with several, `ok` only when every library is,
    each library's report under libraries.<slug> (503 when Redis is unreachable)."""
    libraries = all_libraries()
    if len(libraries) == 1:
        return report()
    worst, found = 200, {}
    for library in libraries:
        with serving(library):
            status, body = report()
        worst, found[library.slug] = max(worst, status), body
    if worst >= 500:
        overall = "unavailable"
    else:
        overall = "ok" if all(body["status"] == "ok" for body in found.values()) else "degraded"
    return worst, {"status": overall, "libraries": found}
