"""Every Redis key, TTL and wait the service uses, in one place."""

from __future__ import annotations

from django.conf import settings

PREFIX = "libdash"

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


def snapshot(metric: str) -> str:
    return f"{PREFIX}:snapshot:{metric}"


def warming(metric: str) -> str:
    return f"{PREFIX}:warming:{metric}"


def group_lock(group: str) -> str:
    return f"{PREFIX}:lock:group:{group}"


def summary(kind: str) -> str:
    return f"{PREFIX}:summary:{kind}"


def prewarm_boot() -> str:
    return f"{PREFIX}:prewarm:boot"


def today_count() -> str:
    """Today's visitor count, written by the fast loop: {"total", "date", "generated_at"}."""
    return f"{PREFIX}:today:count"
