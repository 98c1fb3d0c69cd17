"""The edge's SSE broadcast (serving.stream.Broadcast), on fresh instances: every client gets
each update once, keep-alives flow, a gone client is dropped, a late joiner finds the updates it
missed, and each event loop (daphne has one; tests make several) gets its own writer."""

from __future__ import annotations

import asyncio
import json

import pytest
from django_eventstream.utils import sse_encode_event

from metrics_cache.serving import stream as sse

WAIT_LIMIT_SECONDS = 5


def update(total: int) -> str:
    return json.dumps({"total": total, "generated_at": "2026-11-18T10:00:00.000+07:00"})


def body(chunk: bytes) -> dict:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


class Client:
    def __init__(self):
        self.messages: list[dict] = []

    async def send(self, message: dict) -> None:
        self.messages.append(message)


async def until(condition) -> None:
    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        while not condition():
            await asyncio.sleep(0.005)


def test_every_client_gets_each_update_once_as_a_stream_body():
    broadcast, clients = sse.Broadcast(), [Client(), Client(), Client()]

    async def run():
        for client in clients:  # joining again in the same loop starts no second writer
            broadcast.join(client.send)
        broadcast.publish(update(5))
        broadcast.publish(update(6))
        await until(lambda: all(len(client.messages) == 2 for client in clients))
        await asyncio.sleep(0.05)  # nothing more arrives

    asyncio.run(run())
    expected = [body(sse_encode_event("update", update(n)).encode()) for n in (5, 6)]
    for client in clients:
        assert client.messages == expected
    assert broadcast.clients == 3


def test_each_event_loop_gets_its_own_writer():
    """A writer started in a loop that is still open but not running (another server, or an
    earlier test) must not keep this loop's clients waiting."""
    broadcast, first, second = sse.Broadcast(), Client(), Client()
    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def join(client):
        broadcast.join(client.send)

    async def publish_and_wait(client):
        broadcast.publish(update(9))
        await until(lambda: client.messages)

    try:
        loop_a.run_until_complete(join(first))
        loop_b.run_until_complete(join(second))
        loop_b.run_until_complete(publish_and_wait(second))
    finally:
        for loop in (loop_a, loop_b):
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
    assert second.messages == [body(sse_encode_event("update", update(9)).encode())]


def test_updates_without_clients_are_kept_for_the_next_joiner():
    broadcast = sse.Broadcast()
    assert (broadcast.sequence, broadcast.clients, broadcast.since(0)) == (0, 0, [])
    for total in range(sse.BACKLOG + 5):
        broadcast.publish(update(total))  # no client, no writer: nothing to send yet
    assert broadcast.sequence == sse.BACKLOG + 5, "one step per update"
    kept = broadcast.since(0)
    assert len(kept) == sse.BACKLOG, "a bounded backlog: the last BACKLOG updates"
    assert [total for _, total, _ in kept] == list(range(5, sse.BACKLOG + 5))
    assert broadcast.since(broadcast.sequence) == []
    (sequence, total, chunk), = broadcast.since(broadcast.sequence - 1)  # fmt: skip
    assert (sequence, total) == (broadcast.sequence, sse.BACKLOG + 4)
    assert chunk == sse_encode_event("update", update(sse.BACKLOG + 4)).encode()


def test_a_client_that_is_gone_is_dropped_and_the_others_still_served():
    broadcast, good = sse.Broadcast(), Client()

    async def gone(message):
        raise OSError("connection reset")

    async def run():
        broadcast.join(gone)
        broadcast.join(good.send)
        broadcast.publish(update(3))
        await until(lambda: good.messages)
        await until(lambda: broadcast.clients == 1)
        broadcast.publish(update(4))
        await until(lambda: len(good.messages) == 2)

    asyncio.run(run())
    assert broadcast.clients == 1


def test_keep_alives_reach_every_client_and_stop_with_the_writer(monkeypatch):
    monkeypatch.setattr(sse, "KEEPALIVE_EVERY_SECONDS", 0.01)
    broadcast, clients = sse.Broadcast(), [Client(), Client()]

    async def run():
        for client in clients:
            broadcast.join(client.send)
        await until(lambda: all(len(client.messages) >= 2 for client in clients))
        broadcast._writer.cancel()  # the loop shutting down
        await until(lambda: broadcast._ticker.done())
        return broadcast._ticker.exception()

    assert asyncio.run(run()) is None, "the ticker ends quietly"
    for client in clients:
        assert set(map(json.dumps, map(_text, client.messages))) == {
            json.dumps(_text(body(sse.KEEPALIVE)))
        }


def _text(message: dict) -> dict:
    return {**message, "body": message["body"].decode()}


@pytest.mark.parametrize(
    ("value", "source", "total"),
    [
        ({"total": 12, "date": "2026-11-18"}, "cache", 12),
        ({"total": 0}, "db", 0),
        (None, "unavailable", None),
    ],
)
def test_the_first_event_carries_the_count_and_where_it_came_from(value, source, total):
    at = "2026-11-18T10:00:00.000+07:00"
    event = sse.init_event(value, at, source)
    assert (
        event
        == sse_encode_event(
            "init", json.dumps({"total": total, "source": source, "at": at})
        ).encode()
    )
    assert sse.init_event(value, at) == sse.init_event(value, at, "cache"), "cache by default"
