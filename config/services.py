"""Redis as the cache, the broker and the SSE fan-out reach it: one server (REDIS_URL), or the
primary that Redis Sentinel names (REDIS_SENTINELS + REDIS_SENTINEL_MASTER), followed through
a failover. Reads go to the primary too: no stale replica reads, no ETag flapping."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

# Waits on Redis: connecting, and any one command.
SOCKET_SECONDS = 2
# A job's message stays reserved by its worker this long: a worker lost mid-job (killed, its
# host gone) has its jobs handed to another worker after it, within a minute with the sweep
# below (a job running longer is handed over too, and its library's lock keeps the two apart).
VISIBILITY_TIMEOUT_SECONDS = 50
# How often each worker looks for messages past their visibility timeout (kombu's default is
# one real look every 100 s, which put a lost worker's jobs 2-3 minutes late).
RESTORE_SWEEP_SECONDS = 5


def database_number(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def cache(redis_url: str, sentinels: list[tuple[str, int]], master: str | None) -> dict:
    """CACHES["default"]: django-redis on REDIS_URL, or on Sentinel's primary (its
    SentinelConnectionFactory with the default client, which reads from the primary)."""
    options = {"SOCKET_CONNECT_TIMEOUT": SOCKET_SECONDS, "SOCKET_TIMEOUT": SOCKET_SECONDS}
    location = redis_url
    if sentinels:
        location = f"redis://{master}/{database_number(redis_url)}"
        options.update(
            CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
            SENTINELS=sentinels,
            SENTINEL_KWARGS={"socket_timeout": SOCKET_SECONDS},
        )
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "KEY_PREFIX": "libdash",
        "OPTIONS": options,
    }


def broker(broker_url: str, sentinels: list[tuple[str, int]]) -> str:
    """Celery's broker: its own database number, on the server or behind Sentinel."""
    if not sentinels:
        return broker_url
    number = database_number(broker_url)
    return ";".join(f"sentinel://{host}:{port}/{number}" for host, port in sentinels)


def broker_options(master: str | None) -> dict:
    options: dict = {
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
        "unacked_restore_throttle": 1,  # every sweep looks
    }
    if master:
        options["master_name"] = master
    return options


def check(sentinels: list[tuple[str, int]], master: str | None) -> None:
    if bool(sentinels) != bool(master):
        raise ImproperlyConfigured(
            "REDIS_SENTINELS and REDIS_SENTINEL_MASTER are set together: the sentinels' "
            "addresses and the name they know the primary by"
        )


# The fast loop's ticks and recounts have a queue of their own, so they never wait behind a
# first start's builds or a night's jobs: the Procfile's `live` worker takes it alone, every
# other worker both queues (unless started with -Q).
LIVE_QUEUE = "live"
LIVE_TASKS = (
    "metrics_cache.sync_today",
    "metrics_cache.reconcile_today",
    "metrics_cache.sync_today_group",
    "metrics_cache.reconcile_today_group",
    # The sweep for messages lost between the broker and a worker (operations.transit).
    "metrics_cache.resend_lost_messages",
)


# A library's first build, step after step, has a queue of its own too, which every worker
# but the live one takes in turn with `celery`: hundreds of libraries' interval jobs (folds and
# circulation every few minutes) can keep `celery` longer than their interval, their messages
# then expiring unrun, and a build's next step must not wait behind them.
BUILD_QUEUE = "build"


def task_queues() -> tuple:
    return (Queue("celery"), Queue(LIVE_QUEUE), Queue(BUILD_QUEUE))


def task_routes() -> dict:
    return {name: {"queue": LIVE_QUEUE} for name in LIVE_TASKS}
