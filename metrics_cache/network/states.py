"""Each library as the deployment sees it, from Redis alone (screens never reach SLiMS): its
count today and its state, read for every library in one round trip."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from redis.commands.core import Script

from config.library import all_libraries, name, time_zone
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today.publishing import todays_value

OK, DEGRADED, UNREACHABLE = "ok", "degraded", "unreachable"
# The fast loop is behind when its last success is older than this many intervals.
BEHIND_INTERVALS = 3


def behind(last_success_at: str | None, now: datetime | None = None) -> bool:
    interval = max(settings.VISITOR_SYNC_MIN_INTERVAL_MS / 1000, 1)
    if not last_success_at:
        return True
    age = (now or timezone.now()) - datetime.fromisoformat(last_success_at)
    return age.total_seconds() > BEHIND_INTERVALS * interval


def state(loop: dict[str, str], now: datetime | None = None) -> str:
    """unreachable: its database fails and has not answered for a while (or ever); degraded:
    failing since a recent success, or its fast loop not running; else ok (as of `now`)."""
    # pragma below: the caller's instant or the clock's now, the same within a request.
    stale = behind(loop.get("last_success_at"), now)  # pragma: no mutate
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


def read_lua(first: int) -> str:
    """Lua that reads each library's count and fast loop status, from KEYS[first] on (a pair
    per library: listing_keys()), into `found`: {count, {LOOP_FIELDS}} each."""
    fields = ", ".join(f"'{field}'" for field in LOOP_FIELDS)
    return f"""
local found = {{}}
for i = {first}, #KEYS, 2 do
  found[#found + 1] = {{redis.call('GET', KEYS[i]) or false,
                       redis.call('HMGET', KEYS[i + 1], {fields})}}
end
"""


def listing_keys() -> list[str]:
    return [key for *_, count_key, loop_key in _described_libraries()
            for key in (count_key, loop_key)]  # fmt: skip


def listing_rows(found: list) -> list[dict]:
    """GET /api/libraries's rows from read_lua's `found`: [{slug, name, time_zone, today,
    state}] in the file's order."""
    now, todays = timezone.now(), {}
    rows = []
    # pragmas below: one reply per library and one value per field (zip's strictness never
    # matters); `now` read once for every library instead of once each (the same instant).
    pairs = zip(_described_libraries(), found, strict=True)  # pragma: no mutate
    for (slug, title, zone, _, _), (raw, loop) in pairs:
        if zone not in todays:  # "today" is the library's own date
            todays[zone] = now.astimezone(ZoneInfo(zone)).date()
        value = todays_value(raw or None, todays[zone])
        fields = zip(LOOP_FIELDS, loop, strict=True)  # pragma: no mutate
        seen = {field: v.decode() for field, v in fields if v}
        today = value["total"] if value else None
        status = state(seen, now)  # pragma: no mutate
        rows.append({"slug": slug, "name": title, "time_zone": zone, "today": today,
                     "state": status})  # fmt: skip
    return rows


def listing() -> list[dict]:
    """The listing from one Redis command (a round trip of two commands per library cost more
    in packing and parsing them than the listing's own work). The fast path reads it with the
    request's throttle count (serving.throttling)."""
    return listing_rows(_READ_ALL(keys=listing_keys(), client=client()))


_READ_ALL = Script(None, (read_lua(1) + "return found\n").encode())
