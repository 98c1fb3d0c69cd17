"""The yardstick: a bare ASGI callable on daphne, one Redis GET of stored bytes per request.

    BARE_REDIS_URL=redis://127.0.0.1:6379/11 BARE_KEY=bench:bare:weekly \\
        daphne --port 8790 bench.baselines.bare_asgi:application

No framework, no throttle, no headers beyond Content-Type and Content-Length: what daphne and
redis-py's asyncio client cost on this machine, which the service's fast path is compared to.
"""

from __future__ import annotations

import os

import redis.asyncio as aioredis

KEY = os.environ.get("BARE_KEY", "bench:bare:weekly")
_client = aioredis.Redis.from_url(os.environ.get("BARE_REDIS_URL", "redis://127.0.0.1:6379/11"))


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    body = await _client.get(KEY)
    if body is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
