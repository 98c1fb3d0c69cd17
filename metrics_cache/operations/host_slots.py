"""At most LIBRARY_HOST_CONCURRENCY statements at once on each library database server, from
every worker of the deployment together: many libraries often share one MariaDB server, and
their nightly runs must not pile onto it. A statement waits for a slot (a Redis sorted set per
host: holders and when their lease ends); a holder that died frees its slot when its lease
ends. Without Redis the statement runs unlimited rather than not at all."""

from __future__ import annotations

import contextlib
import time
import uuid

from django.conf import settings
from django.db import DatabaseError
from redis.commands.core import Script
from redis.exceptions import RedisError

from config.library import LIBRARY_ALIAS
from metrics_cache.base import keys
from metrics_cache.base.redis import client

# A slot is held at most this long (past the connection's read timeout: a statement cannot
# outlive it).
LEASE_SECONDS = 60
# A statement waits at most this long for a slot, then fails (its job is tried again later).
WAIT_SECONDS = 30
POLL_SECONDS = 0.02

# KEYS: the host's set. ARGV: now, lease end, limit, token. 1 when the slot is taken.
_TAKE = Script(
    None,
    b"""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('EXPIRE', KEYS[1], 3600)
  return 1
end
return 0
""",
)


class NoSlot(DatabaseError):
    """The library's database server stayed at its limit of concurrent statements."""


def host_of(settings_dict: dict) -> str | None:
    """host:port of a MariaDB/MySQL library database (None: SQLite, a file of its own)."""
    if not settings_dict["ENGINE"].endswith("mysql"):
        return None
    return f"{settings_dict.get('HOST') or 'localhost'}:{settings_dict.get('PORT') or 3306}"


class HostSlots:
    """An execute wrapper (Django's connection.execute_wrappers) for one connection."""

    def __init__(self, host: str):
        self.key = keys.host_slots(host)

    def __call__(self, execute, sql, params, many, context):
        token = self._take()
        try:
            return execute(sql, params, many, context)
        finally:
            if token is not None:
                with contextlib.suppress(RedisError):  # its lease ends anyway
                    client().zrem(self.key, token)

    def _take(self) -> str | None:
        token, deadline = uuid.uuid4().hex, time.monotonic() + WAIT_SECONDS
        while True:
            now = time.time()
            try:
                args = [now, now + LEASE_SECONDS, settings.LIBRARY_HOST_CONCURRENCY, token]
                if _TAKE(keys=[self.key], args=args, client=client()):
                    return token
            except RedisError:
                return None
            if time.monotonic() >= deadline:
                raise NoSlot(f"{self.key}: no statement slot within {WAIT_SECONDS} s")
            time.sleep(POLL_SECONDS)


def limit_library_connections(sender, connection, **kwargs) -> None:
    """connection_created: every library database connection takes a slot per statement."""
    alias = connection.alias
    # The service's own library aliases (not a probe's or the demo writer's connection).
    if alias not in settings.DATABASES or not (
        alias == LIBRARY_ALIAS or alias.startswith(f"{LIBRARY_ALIAS}-")
    ):
        return
    host = host_of(connection.settings_dict)
    # Fired again on each reconnection of the same connection object: one wrapper each.
    wrapped = any(isinstance(w, HostSlots) for w in connection.execute_wrappers)
    if host is not None and settings.LIBRARY_HOST_CONCURRENCY and not wrapped:
        connection.execute_wrappers.append(HostSlots(host))
