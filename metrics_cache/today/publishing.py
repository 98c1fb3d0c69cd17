"""The published count: today's figure in Redis, raised atomically and never lowered within a
day (but by an exact recount), and announced to every web process over pub/sub."""

from __future__ import annotations

import json
import logging
from datetime import date

from django.utils import timezone
from redis.commands.core import Script

from metrics_cache.base import keys
from metrics_cache.base.redis import client

logger = logging.getLogger(__name__)


def todays_value(raw: bytes | str | None, today: date | None = None) -> dict | None:
    """A stored count ({"total", "date", "generated_at"}) if it is dated today (the current
    library's, or `today`), else None."""
    if raw is None:
        return None
    value = json.loads(raw)
    return value if value.get("date") == (today or timezone.localdate()).isoformat() else None


def published() -> dict | None:
    """The count the fast loop last published, if it is today's."""
    return todays_value(client().get(keys.today_count()))


def publish(
    total: int,
    today: date,
    *,
    counter: str | None = None,
    ttl: int | None = None,
    force: bool = False,
    exact: bool = False,
) -> bool:
    """Stores the count and tells every web process, if it changed (or the day did).

    Atomic and monotonic within a day: a total lower than the stored one for the same date is
    not published (a tick that read the counter before a kiosk raised it) unless `exact` (a
    recount from the database), which logs the lowering; an earlier day's figure never
    replaces a later one's. With the kiosks' `counter` key (incremental mode) the figure is
    the counter as it stands when publishing, so a late publisher cannot go back."""
    generated_at = timezone.localtime().isoformat(timespec="milliseconds")
    changed, stored, old = _PUBLISH(
        keys=[keys.today_count(), *([counter] if counter else [])],
        args=[total, today.isoformat(), generated_at, ttl or keys.today_count_ttl_seconds(),
              int(force), int(exact), keys.today_events_channel()],
        client=client(),
    )  # fmt: skip
    if exact and old >= 0 and stored < old:
        logger.warning("exact recount lowered today's count: %d → %d", old, stored)
    return bool(changed)


# KEYS: the published count, [the kiosks' counter]. ARGV: total, date, generated_at, ttl,
# force, exact, channel. Returns {changed, the total now stored, the previous total or -1}.
_PUBLISH = Script(
    None,
    b"""
local total = tonumber(ARGV[1])
if KEYS[2] then
  local counter = redis.call('GET', KEYS[2])
  if counter then total = tonumber(counter) end
end
local old = -1
local previous = redis.call('GET', KEYS[1])
if previous then
  local ok, value = pcall(cjson.decode, previous)
  if ok and value['date'] == ARGV[2] then old = tonumber(value['total']) end
  -- a tick that started before midnight never replaces the new day's figure
  if ok and type(value['date']) == 'string' and value['date'] > ARGV[2] then
    return {0, -1, -1}
  end
end
if old >= 0 and total < old and ARGV[6] ~= '1' then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return {0, old, old}
end
local changed = ARGV[5] == '1' or old ~= total
redis.call('SET', KEYS[1], '{"total": ' .. total .. ', "date": "' .. ARGV[2]
  .. '", "generated_at": "' .. ARGV[3] .. '"}', 'EX', ARGV[4])
if changed then
  redis.call('PUBLISH', ARGV[7], '{"total": ' .. total .. ', "generated_at": "' .. ARGV[3] .. '"}')
end
return {changed and 1 or 0, total, old}
""",
)
