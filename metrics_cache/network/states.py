"""Each library as the deployment sees it, from Redis alone (screens never reach SLiMS): its
count today and its state, read for every library in one round trip."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from config.library import all_libraries, name, serving, time_zone
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


def _decoded(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def listing() -> list[dict]:
    """GET /api/libraries: [{slug, name, time_zone, today, state}] in the file's order."""
    libraries = all_libraries()
    pipeline = client().pipeline(transaction=False)
    for library in libraries:
        with serving(library):
            pipeline.get(keys.today_count())
            pipeline.hgetall(keys.today_loop_status())
    replies = pipeline.execute()
    found = []
    for index, library in enumerate(libraries):
        raw, loop = replies[2 * index], _decoded(replies[2 * index + 1])
        with serving(library):  # "today" is the library's own date
            value = todays_value(raw)
        found.append({
            "slug": library.slug,
            "name": name(library),
            "time_zone": time_zone(library),
            "today": value["total"] if value else None,
            "state": state(loop),
        })  # fmt: skip
    return found
