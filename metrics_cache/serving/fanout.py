"""Count updates from Redis pub/sub to this web process's SSE clients, surviving Redis restarts.

django-eventstream's own Redis fan-out (EVENTSTREAM_REDIS) is not used: its listener
subscribes to one fixed channel whatever the database number (two deployments on one Redis
would hear each other), and it never reconnects after Redis restarts. This task does both:
the channels are named per deployment and library (keys.today_events_channel), one pattern
subscription hears every library's, and a lost connection is retried with backoff, after
which clients get the current counts at once. Each library's updates go to its own streams
and, as {"slug", "total", "network_total"}, to the network's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from zoneinfo import ZoneInfo

from django.utils import timezone
from django_eventstream.event import Event
from django_eventstream.views import get_listener_manager

from config.library import all_libraries, serving, time_zone
from metrics_cache.base import keys
from metrics_cache.base.redis import async_client
from metrics_cache.serving import stream
from metrics_cache.today.publishing import todays_value

logger = logging.getLogger(__name__)

RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5

_task: asyncio.Task | None = None
# Each library's count as this process last heard it: the network's total is their sum.
totals: dict[str, int] = {}


def channel(slug: str) -> str:
    """django-eventstream's channel of one library's updates inside this process."""
    return f"today-{slug}"


def deliver(slug: str, data: str) -> None:
    """To the library's clients of the edge's stream (serving.stream) and of
    django-eventstream's, and to the network's stream."""
    stream.broadcast_of(slug).publish(data)
    get_listener_manager().add_to_queues(channel(slug), Event(channel(slug), "update", data))
    total = json.loads(data)["total"]
    if totals.get(slug) != total:
        totals[slug] = total
        update = {"slug": slug, "total": total, "network_total": sum(totals.values())}
        stream.network.publish(json.dumps(update))


def ensure_running() -> None:
    """Starts the subscriber in this event loop on the first SSE connection."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_subscribe_forever())


def channels() -> dict[bytes, tuple[str, str, str]]:
    """{Redis channel: (slug, the library's today key, its zone)} for every library."""
    found = {}
    for library in all_libraries():
        with serving(library):
            found[keys.today_events_channel().encode()] = (
                library.slug, keys.today_count(), time_zone(library)
            )  # fmt: skip
    return found


async def current_counts(client, channels: dict) -> dict[str, dict | None]:
    """{slug: today's stored count, or None} for every library, in one round trip; "today"
    is each library's own date."""
    named = list(channels.values())
    raw = await client.mget([key for _, key, _ in named]) if named else []
    now = timezone.now()
    return {
        slug: todays_value(value, now.astimezone(ZoneInfo(zone)).date())
        for (slug, _, zone), value in zip(named, raw, strict=True)
    }


async def _catch_up(client, channels: dict) -> None:
    """After a reconnection: updates published meanwhile are lost; send the current counts."""
    for slug, value in (await current_counts(client, channels)).items():
        if value is not None:
            deliver(slug, json.dumps(
                {"total": value["total"], "generated_at": value["generated_at"]}
            ))  # fmt: skip


async def _subscribe_forever() -> None:
    subscribed = channels()
    delay, failing = RECONNECT_FIRST_SECONDS, False
    while True:
        client = async_client(socket_connect_timeout=2, health_check_interval=15)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(*subscribed)
                for slug, value in (await current_counts(client, subscribed)).items():
                    if value is not None:
                        totals.setdefault(slug, value["total"])
                if failing:
                    logger.warning("SSE fan-out reconnected to Redis")
                    failing = False
                    await _catch_up(client, subscribed)
                delay = RECONNECT_FIRST_SECONDS
                async for message in pubsub.listen():
                    if message["type"] == "message" and message["channel"] in subscribed:
                        deliver(subscribed[message["channel"]][0], message["data"].decode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                logger.warning("SSE fan-out lost Redis (%s: %s); retrying", type(exc).__name__, exc)
                failing = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        finally:
            await client.aclose()
