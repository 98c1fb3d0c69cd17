"""The kiosks' counter of one local date (incremental mode): raised only if it exists, and set
to an exact count keeping the increments made while counting."""

from __future__ import annotations

from redis.commands.core import Script

from metrics_cache.base import keys
from metrics_cache.base.redis import client


def increment_existing(key: str, by: int) -> int | None:
    """The counter raised by `by`; None when it is missing (never raised from 0)."""
    return _INCREMENT_EXISTING(keys=[key], args=[by, keys.TODAY_COUNTER_TTL_SECONDS],
                               client=client())  # fmt: skip


def apply_exact(key: str, exact: int, before: bytes | None) -> int:
    """Sets the counter to `exact` plus whatever kiosks added since it read `before`."""
    return _APPLY_EXACT(keys=[key], args=[exact, before or "", keys.TODAY_COUNTER_TTL_SECONDS],
                        client=client())  # fmt: skip


# KEYS: the counter. ARGV: by, ttl. Nil when the counter is missing.
_INCREMENT_EXISTING = Script(
    None,
    b"""
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return total
""",
)
# KEYS: the counter. ARGV: exact, the counter before counting ('' if missing), ttl.
_APPLY_EXACT = Script(
    None,
    b"""
local total
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  total = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]))
else
  total = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], total)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return total
""",
)
