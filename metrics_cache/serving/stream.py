"""Today's count over SSE in front of Django: one coroutine per client, no thread.

Django's ASGI handler gives every request its own thread for sync code (ThreadSensitiveContext),
and an open stream keeps it: a thread per connected client. Here a client is a coroutine
waiting on one future shared by all clients of the process; an update sets it and every
client writes the same prepared bytes. The events are django-eventstream's, byte for byte
(the DRF-side view, serving.today_views.today_stream, still serves resumed streams with
django-eventstream itself). The caller starts the Redis fan-out (serving.fanout).
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
# The contract wants one at least every 20 s on every connection: one tick for all clients.
KEEPALIVE_EVERY_SECONDS = 15
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Updates kept for a client connecting while they are fanned in.
BACKLOG = 32


class Broadcast:
    """The clients of this process and the count updates it received.

    One writer task sends each update (and the keep-alives) to every client in turn: no
    per-client wake-up, timer or callback on a shared future (which asyncio.wait would add
    and remove per client: O(clients) each, O(clients²) per keep-alive wave).
    """

    def __init__(self):
        self.sequence = 0
        self._sends: set = set()
        self._backlog: collections.deque = collections.deque(maxlen=BACKLOG)
        self._queue: asyncio.Queue | None = None  # pragma: no mutate (the first join sets it)
        self._writer: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None  # pragma: no mutate (the first join sets it)

    @property
    def clients(self) -> int:
        return len(self._sends)

    def _ensure_writer(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._write_forever(self._queue))
            self._ticker = loop.create_task(self._keep_alive_forever(self._queue))
        return self._queue

    def publish(self, data: str) -> None:
        """`data` is an update event's JSON ({"total", "generated_at"}; the network's
        {"slug", "total", "network_total"})."""
        self.sequence += 1
        total = json.loads(data).get("total")
        chunk = sse_encode_event("update", data).encode()
        self._backlog.append((self.sequence, total, chunk))
        if self._queue is not None and self._writer is not None and not self._writer.done():
            self._queue.put_nowait(chunk)

    def since(self, sequence: int) -> list[tuple[int, object, bytes]]:
        return [entry for entry in self._backlog if entry[0] > sequence]

    def join(self, send) -> None:
        self._ensure_writer()
        self._sends.add(send)

    def leave(self, send) -> None:
        self._sends.discard(send)

    async def _write_forever(self, queue: asyncio.Queue) -> None:
        while True:
            chunk = await queue.get()
            message = {"type": "http.response.body", "body": chunk, "more_body": True}
            for send in list(self._sends):
                try:
                    await send(message)
                except Exception:  # the client is gone; its own coroutine cleans up
                    self._sends.discard(send)

    async def _keep_alive_forever(self, queue: asyncio.Queue) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY_SECONDS)
            if self._writer is None or self._writer.done():
                return
            queue.put_nowait(KEEPALIVE)


# One broadcast per library (its slug) and one of the network's updates.
_broadcasts: dict[str, Broadcast] = {}
network = Broadcast()


def broadcast_of(slug: str) -> Broadcast:
    found = _broadcasts.get(slug)
    if found is None:
        found = _broadcasts[slug] = Broadcast()
    return found


def clients() -> int:
    """Stream clients of this process, the network's included."""
    return network.clients + sum(each.clients for each in _broadcasts.values())


def init_event(value: dict | None, at: str, source: str = "cache") -> bytes:
    """The first event: the count and where it came from (None and "unavailable" when neither
    the cache nor the database answered), as the DRF-side stream sends it."""
    init = {"total": value["total"] if value else None, "source": source, "at": at}
    return sse_encode_event("init", json.dumps(init)).encode()


async def serve(
    receive,
    send,
    response_headers,
    init: bytes,
    total,
    sequence: int,
    broadcast: Broadcast,
    *,
    replay_all: bool = False,
) -> None:
    """Streams to one client until it goes away. `sequence` is the broadcast's before the
    count in `init` was read: an update that arrived meanwhile is sent with the opening (a
    library's latest one unless it repeats `init`'s total; every one of the network's, whose
    `init` holds each library's count, with `replay_all`)."""
    await receive()  # the (empty) request body
    await send({"type": "http.response.start", "status": 200, "headers": response_headers})
    if replay_all:
        missed = b"".join(chunk for _, _, chunk in broadcast.since(sequence))
    else:
        latest = [chunk for _, update_total, chunk in broadcast.since(sequence)
                  if update_total != total]  # fmt: skip
        missed = latest[-1] if latest else b""
    opening = init + OPENING.encode() + missed
    # daphne's send does not yield to the loop, so no update is written between the opening
    # and joining (at worst the next update corrects an older count).
    await send({"type": "http.response.body", "body": opening, "more_body": True})
    broadcast.join(send)
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        broadcast.leave(send)
