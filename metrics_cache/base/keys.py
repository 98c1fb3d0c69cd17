"""Every Redis key, TTL and wait the service uses, in one place."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from config.libraries import Library
from config.library import library_fingerprint

PREFIX = "libdash"


def prefix(library: Library | None = None) -> str:
    """Every key names the library database it describes (see library_fingerprint): the
    current library's, or `library`'s."""
    return f"{PREFIX}:{library_fingerprint(library)}"


# A metric missing from the cache queues one refresh per this window, however many requests miss.
WARMING_WINDOW_SECONDS = 30
# What a 202 tells a dashboard to wait before asking again.
RETRY_AFTER_SECONDS = 5
# A group run holds its lock at most this long (its Celery hard time limit).
GROUP_RUN_TIME_LIMIT_SECONDS = 900
# Workers starting within this window share one start-up prewarm.
PREWARM_BOOT_WINDOW_SECONDS = 300
# A snapshot older than this is stale (the contract's 30 hours).
STALE_AFTER_SECONDS = 30 * 3600


def aggregate_ttl_seconds() -> int:
    return settings.AGGREGATE_TTL_SECONDS


def summary_ttl_seconds() -> int:
    return settings.SUMMARY_TTL_SECONDS


def rollup_lock() -> str:
    return f"{prefix()}:rollups:lock"


def snapshot(metric: str) -> str:
    return f"{prefix()}:snapshot:{metric}"


def warming(metric: str) -> str:
    return f"{prefix()}:warming:{metric}"


def library_jobs(library: Library | None = None) -> str:
    """Held by the one job of the library running (its ticks apart): the library's slot."""
    return f"{prefix(library)}:lock:jobs"


def handed_jobs(library: Library | None = None) -> str:
    """The library's jobs to be run by the holder of its slot (operations.handover)."""
    return f"{prefix(library)}:jobs:handed"


def job_ran(task_id: str) -> str:
    """Noted once the job of this task id ran (operations.handover)."""
    return f"{prefix()}:jobs:ran:{task_id}"


def group_lock(group: str) -> str:
    return f"{prefix()}:lock:group:{group}"


def summary(kind: str, audience: str) -> str:
    """A composed summary as one audience sees it (snapshots.privacy.AUDIENCES)."""
    return f"{prefix()}:summary:{kind}:{audience}"


def throttle(address: str, window: int) -> str:
    """Requests from one client address in one throttle window (a counter with an expiry)."""
    return f"{prefix()}:throttle:{address}:{window}"


def prewarm_boot() -> str:
    return f"{prefix()}:prewarm:boot"


def host_slots(host: str) -> str:
    """The statements running on one library database server (every library on it)."""
    return f"{PREFIX}:host:{host}:statements"


def in_transit(name: str) -> str:
    """The messages sent and not yet received (operations.transit), in the broker's database."""
    return f"{PREFIX}:transit:{name}"


def today_count(library: Library | None = None) -> str:
    """Today's visitor count, written by the fast loop: {"total", "date", "generated_at"}."""
    return f"{prefix(library)}:today:count"


# --- today's live count -------------------------------------------------------------------------
# When the API has to count in the database itself, it caches the answer this long.
TODAY_FALLBACK_TTL_SECONDS = 10
# How long concurrent misses wait for the one request that counts.
TODAY_SINGLE_FLIGHT_WAIT_SECONDS = 3
# The fast loop's lock: longer than any tick (the task's hard time limit), short enough that
# a worker killed in the middle of a tick holds the count back only this long.
TODAY_LOCK_SECONDS = 15
# Recounts and a kiosk rebuilding a missing counter wait this long for the loop's lock.
TODAY_LOCK_WAIT_SECONDS = 5
# The kiosks' counter of one day outlives the day (a late reconcile still finds it).
TODAY_COUNTER_TTL_SECONDS = 2 * 86400
# After database errors the loop waits this long, doubling up to the maximum.
TODAY_BACKOFF_FIRST_SECONDS = 1
TODAY_BACKOFF_MAX_SECONDS = 15


def today_count_ttl_seconds() -> int:
    """Today's published count outlives a few missed ticks, then the API counts itself."""
    return max(30, 3 * settings.VISITOR_SYNC_MIN_INTERVAL_MS // 1000)


def today_lock() -> str:
    return f"{prefix()}:today:lock"


def today_cooldown() -> str:
    return f"{prefix()}:today:cooldown"


def today_flight() -> str:
    return f"{prefix()}:today:flight"


def today_delta_state() -> str:
    """Delta mode: {date, last_id, count, baseline_id, baseline_count}."""
    return f"{prefix()}:today:delta"


def today_counter(day) -> str:
    """Incremental mode: the kiosks' counter for one local date (so midnight starts a new one)."""
    return f"{prefix()}:today:counter:{day.isoformat()}"


def today_loop_status(library: Library | None = None) -> str:
    """The fast loop's health: mode, last run and duration, last success, baseline, error."""
    return f"{prefix(library)}:today:loop"


def today_backoff() -> str:
    return f"{prefix()}:today:backoff"


def today_events_channel() -> str:
    """Redis pub/sub channel of count updates. Pub/sub ignores the database number, so the
    channel names it: two deployments on one Redis server never hear each other."""
    db = urlsplit(settings.REDIS_URL).path.strip("/") or "0"
    return f"{prefix()}:db{db}:today:events"


# --- reports ------------------------------------------------------------------------------------
# A computed report is kept this long (its key changes anyway when its rollups or the day do).
REPORT_TTL_SECONDS = 86400
# What a 202 tells a client to wait while the rollups' first build runs.
REPORT_BUILDING_RETRY_SECONDS = 30


def report(name: str, parameters: str, state: str) -> str:
    """One report's JSON for its parameters and the state of the rollups it was computed from."""
    return f"{prefix()}:report:{name}:{parameters}:{state}"
