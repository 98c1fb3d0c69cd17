"""Each library as the deployment sees it, from Redis alone (screens never reach SLiMS): its
count today and its state, read for every library in one round trip."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from config.library import all_libraries, name, time_zone
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today.publishing import todays_value

OK, DEGRADED, UNREACHABLE = "ok", "degraded", "unreachable"
# The fast loop is behind when its last success is older than this many intervals.
BEHIND_INTERVALS = 3


def behind(last_success_at: str | None) -> bool:
    interval = max(settings.VISITOR_SYNC_MIN_INTERVAL_MS / 1000, 1)
    if not last_success_at:
        return True
    age = timezone.now() - datetime.fromisoformat(last_success_at)
    return age.total_seconds() > BEHIND_INTERVALS * interval


def state(loop: dict[str, str]) -> str:
    """unreachable: its database fails and has not answered for a while (or ever); degraded:
    failing since a recent success, or its fast loop not running; else ok."""
    stale = behind(loop.get("last_success_at"))
    if loop.get("error"):
        return UNREACHABLE if stale else DEGRADED
    return DEGRADED if stale else OK


LOOP_FIELDS = ("error", "last_success_at")
_described: dict[int, list[tuple]] = {}


def _described_libraries() -> list[tuple]:
    """(slug, name, zone, count key, loop key) of each library: fixed while the process
    runs, so worked out once (keyed by the list of libraries, which tests replace)."""
    libraries = all_libraries()
    found = _described.get(id(libraries))
    if found is None or len(found) != len(libraries):
        found = [(lib.slug, name(lib), time_zone(lib), keys.today_count(lib),
                  keys.today_loop_status(lib)) for lib in libraries]  # fmt: skip
        _described.clear()
        _described[id(libraries)] = found
    return found


def listing() -> list[dict]:
    """GET /api/libraries: [{slug, name, time_zone, today, state}] in the file's order, from
    one Redis round trip."""
    described = _described_libraries()
    pipeline = client().pipeline(transaction=False)
    for _, _, _, count_key, loop_key in described:
        pipeline.get(count_key)
        pipeline.hmget(loop_key, LOOP_FIELDS)
    replies = pipeline.execute()
    now, todays = timezone.now(), {}
    found = []
    for index, (slug, title, zone, _, _) in enumerate(described):
        raw, loop = replies[2 * index], replies[2 * index + 1]
        if zone not in todays:  # "today" is the library's own date
            todays[zone] = now.astimezone(ZoneInfo(zone)).date()
        value = todays_value(raw, todays[zone])
        seen = {field: v.decode() for field, v in zip(LOOP_FIELDS, loop, strict=True) if v}
        today = value["total"] if value else None
        found.append({"slug": slug, "name": title, "time_zone": zone, "today": today,
                      "state": state(seen)})  # fmt: skip
    return found
