"""GET /api/network/today/stream, in front of Django like the libraries' streams: `init` with
every library's count today and their total, then an `update` {"slug", "total",
"network_total"} whenever a library's count changes (serving.fanout)."""

from __future__ import annotations

import asyncio
import json

from django_eventstream.utils import sse_encode_event
from redis.exceptions import RedisError

from metrics_cache.serving import fanout, headers, stream

PATH = "/api/network/today/stream"


async def serve(scope, receive, send, client, timeout: float) -> None:
    """Streams the network's counts to one client until it goes away; `client` None (Redis
    unreachable) starts it with no counts, which the updates fill in once Redis is back."""
    sequence = stream.network.sequence  # before the counts are read (see stream.serve)
    counts: dict = {}
    if client is not None:
        try:
            async with asyncio.timeout(timeout):
                counts = await fanout.current_counts(client, fanout.channels())
        except (RedisError, OSError, TimeoutError):
            counts = {}
    libraries = {slug: (value["total"] if value else None) for slug, value in counts.items()}
    known = [total for total in libraries.values() if total is not None]
    init = {"libraries": libraries, "total": sum(known) if known else None}
    response_headers = headers.event_stream(scope)
    fanout.ensure_running()
    await stream.serve(receive, send, response_headers,
                       sse_encode_event("init", json.dumps(init)).encode(), None, sequence,
                       stream.network, replay_all=True)  # fmt: skip
