"""Count updates from Redis pub/sub to this web process's SSE clients, surviving Redis restarts.

django-eventstream's own Redis fan-out (EVENTSTREAM_REDIS) is not used: its listener
subscribes to one fixed channel whatever the database number (two deployments on one Redis
would hear each other), and it never reconnects after Redis restarts. This task does both:
the channel is named per deployment (keys.today_events_channel) and a lost connection is
retried with backoff, after which clients get the current count at once.
"""

from __future__ import annotations

import asyncio
import json
import logging

import redis.asyncio as aioredis
from django.conf import settings
from django_eventstream.event import Event
from django_eventstream.views import get_listener_manager

from metrics_cache.base import keys
from metrics_cache.serving import stream

logger = logging.getLogger(__name__)

# django-eventstream's channel inside this process (not a Redis name).
CHANNEL = "today"
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5

_task: asyncio.Task | None = None


def deliver(data: str) -> None:
    """To the clients of the edge's stream (serving.stream) and of django-eventstream's."""
    stream.broadcast.publish(data)
    get_listener_manager().add_to_queues(CHANNEL, Event(CHANNEL, "update", data))


def ensure_running() -> None:
    """Starts the subscriber in this event loop on the first SSE connection."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_subscribe_forever())


async def _current_update(client) -> str | None:
    raw = await client.get(keys.today_count())
    if raw is None:
        return None
    value = json.loads(raw)
    return json.dumps({"total": value["total"], "generated_at": value["generated_at"]})


async def _subscribe_forever() -> None:
    delay, failing = RECONNECT_FIRST_SECONDS, False
    while True:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=15
        )
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(keys.today_events_channel())
                if failing:
                    logger.warning("SSE fan-out reconnected to Redis")
                    failing = False
                    # Updates published while we were away are lost: send the current count.
                    current = await _current_update(client)
                    if current:
                        deliver(current)
                delay = RECONNECT_FIRST_SECONDS
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        deliver(message["data"].decode())
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
