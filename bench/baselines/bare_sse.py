"""The yardstick for SSE fan-out: a bare ASGI app on the same server as the service
(`python -m config.daphne`), no Django, no edge. It holds every stream and, for each message
on the service's Redis channel, writes one `update` event to every client in turn, as the
service's writer does. `python -m bench.sse_fanout --web-app bench.baselines.bare_sse:application`
runs it in place of the service's web process (the worker and beat still publish the count).

    BARE_REDIS_URL=redis://127.0.0.1:6379/12 BARE_CHANNEL=... BARE_TODAY_KEY=... \\
        python -m config.daphne --port 8791 -v 0 bench.baselines.bare_sse:application
"""

from __future__ import annotations

import asyncio
import json
import os

import redis.asyncio as aioredis

# A bounded pool that makes a burst of connecting clients wait, as the service's edge does.
_redis = aioredis.Redis(
    connection_pool=aioredis.BlockingConnectionPool.from_url(
        os.environ.get("BARE_REDIS_URL", "redis://127.0.0.1:6379/12"), max_connections=64
    )
)
_sends: set = set()
_listener: asyncio.Task | None = None
OPENING = b":" + b" " * 2048 + b"\n\nevent: stream-open\ndata:\n\n"


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def _listen() -> None:
    pubsub = _redis.pubsub()
    await pubsub.subscribe(os.environ["BARE_CHANNEL"])
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        body = {"type": "http.response.body", "body": _event("update", message["data"]),
                "more_body": True}  # fmt: skip
        for send in list(_sends):
            try:
                await send(body)
            except Exception:
                _sends.discard(send)


async def application(scope, receive, send):
    global _listener
    if scope["type"] != "http":
        return
    if scope["path"] != "/api/visitors/today/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    if _listener is None or _listener.done():
        _listener = asyncio.get_running_loop().create_task(_listen())
    raw = await _redis.get(os.environ["BARE_TODAY_KEY"])
    total = json.loads(raw)["total"] if raw else None
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-cache")]})  # fmt: skip
    init = _event("init", json.dumps({"total": total, "source": "cache"}).encode())
    await send({"type": "http.response.body", "body": init + OPENING, "more_body": True})
    _sends.add(send)
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        _sends.discard(send)
