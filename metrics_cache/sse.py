"""Today's count over SSE in front of Django: one coroutine per client, no thread.

Django's ASGI handler gives every request its own thread for sync code (ThreadSensitiveContext),
and an open stream keeps it: a thread per connected client. Here a client is a coroutine
waiting on one future shared by all clients of the process; an update sets it and every
client writes the same prepared bytes. The events are django-eventstream's, byte for byte
(the DRF-side view, metrics_cache.live_views.today_stream, still serves resumed streams and
cache misses with django-eventstream itself).
"""

from __future__ import annotations

import asyncio
import collections
import json

from django_eventstream.utils import sse_encode_event

# django-eventstream's first chunk: 2 KiB of padding defeats buffering in old proxies and
# browsers, then its stream-open event.
OPENING = ":" + " " * 2048 + "\n\n" + "event: stream-open\ndata:\n\n"
KEEPALIVE = b"event: keep-alive\ndata:\n\n"
KEEPALIVE_SECONDS = 20  # the contract's "at least every 20 s"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Updates kept for clients that were busy writing when the next one came.
BACKLOG = 32


class Broadcast:
    """The count updates this process received, for every client connected to it."""

    def __init__(self):
        self.clients = 0
        self.sequence = 0
        self._backlog: collections.deque = collections.deque(maxlen=BACKLOG)
        self._changed: asyncio.Future | None = None

    def changed(self) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        current = self._changed
        if current is None or current.done() or current.get_loop() is not loop:
            self._changed = current = loop.create_future()
        return current

    def publish(self, data: str) -> None:
        """`data` is an update event's JSON ({"total", "generated_at"})."""
        self.sequence += 1
        total = json.loads(data).get("total")
        self._backlog.append((self.sequence, total, sse_encode_event("update", data).encode()))
        current = self._changed
        if current is not None and not current.done() and not current.get_loop().is_closed():
            current.set_result(None)

    def since(self, sequence: int) -> list[tuple[int, object, bytes]]:
        return [entry for entry in self._backlog if entry[0] > sequence]


broadcast = Broadcast()


def init_event(value: dict, at: str) -> bytes:
    init = {"total": value["total"], "source": "cache", "at": at}
    return sse_encode_event("init", json.dumps(init)).encode()


async def serve(receive, send, response_headers, init: bytes, total, sequence: int) -> None:
    """Streams to one client until it goes away. `sequence` is the broadcast's before the
    count in `init` was read: an update that arrived meanwhile is sent at once."""
    from metrics_cache import fanout

    fanout.ensure_running()
    await receive()  # the (empty) request body
    gone = asyncio.ensure_future(receive())  # http.disconnect
    broadcast.clients += 1
    try:
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": init + OPENING.encode(),
                    "more_body": True})  # fmt: skip
        missed = [chunk for _, update_total, chunk in broadcast.since(sequence)
                  if update_total != total]  # fmt: skip
        sequence = broadcast.sequence
        if missed:
            await send({"type": "http.response.body", "body": missed[-1], "more_body": True})
        while True:
            changed = broadcast.changed()
            done, _ = await asyncio.wait(
                (gone, changed), timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return
            if changed in done:
                chunks = [chunk for _, _, chunk in broadcast.since(sequence)]
                sequence = broadcast.sequence
                body = b"".join(chunks)
            else:
                body = KEEPALIVE
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
    finally:
        broadcast.clients -= 1
        gone.cancel()
