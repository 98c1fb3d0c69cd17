"""The SSE stream in front of Django: django-eventstream's events byte for byte, without a
thread per client."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from asgiref.sync import async_to_sync

from config.asgi import application, django_application
from metrics_cache import fanout, sse, today
from metrics_cache.edge import Edge
from tests.asgi import OpenStream, call, scope

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

JAKARTA = ZoneInfo("Asia/Jakarta")
PATH = "/api/visitors/today/stream"
OPENED = b"event: stream-open\ndata:\n\n"


@pytest.fixture
def published(settings, library_tables):
    settings.THROTTLE_ANON_RATE = "100000/min"
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=JAKARTA), tick=False):
        today.publish(41, datetime(2026, 11, 18).date())
        yield


def test_the_stream_is_django_eventstreams_through_both_paths(published):
    async def run():
        request = scope("GET", PATH, {"Accept": "text/event-stream"})
        async with OpenStream(django_application, dict(request)) as direct, \
                OpenStream(application, dict(request)) as edge:  # fmt: skip
            starts = [await direct.start(), await edge.start()]
            openings = [await direct.read_until(OPENED), await edge.read_until(OPENED)]
            clients_on_edge = sse.broadcast.clients
            update = json.dumps({"total": 42, "generated_at": "2026-11-18T10:00:01.000+07:00"})
            fanout.deliver(update)
            edge_update = await edge.read_until(b"\n\n")
            # django-eventstream tosses events queued before its stream first waits (it would
            # re-read them from a storage this service does not keep): deliver again until
            # its client has one, within a bound.
            for _ in range(25):
                try:
                    direct_update = await direct.read_until(b"\n\n", timeout=0.2)
                    break
                except TimeoutError:
                    fanout.deliver(update)
            updates = [direct_update, edge_update]
            threads = threading.active_count()
        return starts, openings, updates, clients_on_edge, threads

    starts, openings, updates, clients_on_edge, _ = async_to_sync(run)()
    assert starts[0]["status"] == starts[1]["status"] == 200
    assert sorted(starts[0]["headers"]) == sorted(starts[1]["headers"])
    assert openings[0] == openings[1]
    assert openings[1].startswith(b'event: init\ndata: {"total": 41, "source": "cache", "at": ')
    expected = (
        b'event: update\ndata: {"total": 42, "generated_at": "2026-11-18T10:00:01.000+07:00"}'
    )
    assert updates[0] == updates[1] == expected + b"\n\n"
    assert clients_on_edge == 1


def test_many_clients_share_one_thread(published):
    clients = 200

    async def run():
        before = threading.active_count()
        request = scope("GET", PATH)
        streams = [OpenStream(application, dict(request)) for _ in range(clients)]
        for stream in streams:
            await stream.__aenter__()
        for stream in streams:
            await stream.read_until(OPENED)
        during = threading.active_count()
        on_edge = sse.broadcast.clients
        fanout.deliver(json.dumps({"total": 43, "generated_at": "x"}))
        received = await asyncio.gather(*(s.read_until(b'"total": 43') for s in streams))
        for stream in streams:
            await stream.__aexit__()
        return before, during, received, on_edge

    before, during, received, on_edge = async_to_sync(run)()
    assert on_edge == clients
    assert len(received) == clients
    assert during - before < 5, "no thread per client"
    assert sse.broadcast.clients == 0, "every client was let go"


def test_resumed_streams_and_misses_are_left_to_django(published):
    reached = []

    async def django_stand_in(scope, receive, send):
        # Not Django itself: its stream would count in the library database from a thread
        # this test cannot close, holding a lock the next test's TRUNCATE waits for.
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    edge = Edge(django_stand_in)
    for headers, query in (({"Last-Event-ID": "today:1"}, b""), ({}, b"lastEventId=x")):
        assert call(edge, "GET", PATH, headers, query=query).status == 204, (headers, query)
    today.redis().delete(today.keys.today_count())
    assert call(edge, "GET", PATH).status == 204  # a miss: Django counts once
    assert reached == [PATH] * 3
