"""/health: can the service serve, and is what it serves current?"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from config.library import LIBRARY_ALIAS
from metrics_cache import folding, keys, snapshots, today
from metrics_cache.registry import METRICS

# The library check must answer fast even when the server does not.
LIBRARY_CHECK_TIMEOUT_SECONDS = 2


def _library_db() -> str:
    reader = connections[LIBRARY_ALIAS]
    settings_dict = {**reader.settings_dict, "OPTIONS": {**reader.settings_dict["OPTIONS"]}}
    if reader.vendor == "mysql":
        settings_dict["OPTIONS"].update(
            connect_timeout=LIBRARY_CHECK_TIMEOUT_SECONDS,
            read_timeout=LIBRARY_CHECK_TIMEOUT_SECONDS,
        )
    probe = type(reader)(settings_dict, alias=f"{LIBRARY_ALIAS}-health")
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError:
        return "unreachable"
    finally:
        probe.close()


def _app_db() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError:
        return "unreachable"


def _fast_loop() -> tuple[dict, bool]:
    status = today.loop_status()
    interval = settings.VISITOR_SYNC_MIN_INTERVAL_MS / 1000
    last = status.pop("last_success_at")
    status.pop("error", None)
    behind = last is None or (
        timezone.now() - datetime.fromisoformat(last)
    ).total_seconds() > 3 * max(interval, 1)
    return status, behind


def fast_loop_current() -> bool:
    """True while beat schedules ticks and a worker runs them (the containers' beat check)."""
    return not _fast_loop()[1]


def _snapshots() -> dict:
    now = timezone.now()
    ages = {}
    for metric in METRICS:
        stored = snapshots.read(metric.name)
        if stored is None:
            ages[metric.name] = {"age_seconds": None, "stale": True}
            continue
        age = int((now - stored.generated_at).total_seconds())
        ages[metric.name] = {"age_seconds": age, "stale": age > keys.STALE_AFTER_SECONDS}
    return ages


def _rollups() -> dict:
    try:
        return folding.status()
    except DatabaseError:
        return {"error": "the service's database is unreachable"}


def report() -> tuple[int, dict]:
    """(HTTP status, body): 503 when Redis is unreachable, else 200 ok or degraded."""
    try:
        get_redis_connection("default").ping()
    except RedisError:
        checks = {"redis": "unreachable", "library_db": _library_db(), "app_db": _app_db()}
        return 503, {"status": "unavailable", "checks": checks}
    fast_loop, behind = _fast_loop()
    checks = {
        "redis": "ok",
        "library_db": _library_db(),
        "app_db": _app_db(),
        "fast_loop": fast_loop,
        "snapshots": _snapshots(),
        # Until a first build is over its state is "building", with its progress (0..1);
        # snapshots are computed by scanning SLiMS meanwhile.
        "rollups": _rollups(),
    }
    degraded = (
        checks["library_db"] != "ok"
        or checks["app_db"] != "ok"
        or behind
        or any(snapshot["stale"] for snapshot in checks["snapshots"].values())
    )
    return 200, {"status": "degraded" if degraded else "ok", "checks": checks}
