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
from metrics_cache.base import keys
from metrics_cache.base import redis as base_redis
from metrics_cache.serving import fanout
from metrics_cache.serving import stream as sse
from metrics_cache.serving.edge import Edge
from metrics_cache.today import publishing
from tests.support.asgi import OpenStream, call, django_stand_in, scope

pytestmark = pytest.mark.django_db(databases=["default", "library"], transaction=True)

JAKARTA = ZoneInfo("Asia/Jakarta")
PATH = "/api/visitors/today/stream"
OPENED = b"event: stream-open\ndata:\n\n"


@pytest.fixture
def published(settings, library):
    settings.THROTTLE_ANON_RATE = "100000/min"
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=JAKARTA), tick=False):
        publishing.publish(41, datetime(2026, 11, 18).date())
        yield


def test_the_stream_is_django_eventstreams_through_both_paths(published):
    async def run():
        request = scope("GET", PATH, {"Accept": "text/event-stream"})
        async with OpenStream(django_application, dict(request)) as direct, \
                OpenStream(application, dict(request)) as edge:  # fmt: skip
            starts = [await direct.start(), await edge.start()]
            openings = [await direct.read_until(OPENED), await edge.read_until(OPENED)]
            clients_on_edge = sse.broadcast_of("default").clients
            update = json.dumps({"total": 42, "generated_at": "2026-11-18T10:00:01.000+07:00"})
            fanout.deliver("default", update)
            edge_update = await edge.read_until(b"\n\n")
            # django-eventstream tosses events queued before its stream first waits (it would
            # re-read them from a storage this service does not keep): deliver again until
            # its client has one, within a bound.
            for _ in range(25):
                try:
                    direct_update = await direct.read_until(b"\n\n", timeout=0.2)
                    break
                except TimeoutError:
                    fanout.deliver("default", update)
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
        on_edge = sse.broadcast_of("default").clients
        fanout.deliver("default", json.dumps({"total": 43, "generated_at": "x"}))
        received = await asyncio.gather(*(s.read_until(b'"total": 43') for s in streams))
        for stream in streams:
            await stream.__aexit__()
        return before, during, received, on_edge

    before, during, received, on_edge = async_to_sync(run)()
    assert on_edge == clients
    assert len(received) == clients
    assert during - before < 5, "no thread per client"
    assert sse.broadcast_of("default").clients == 0, "every client was let go"


def test_resumed_streams_are_left_to_django(published):
    reached = []
    edge = Edge(django_stand_in(reached))
    for headers, query in (({"Last-Event-ID": "today:1"}, b""), ({}, b"lastEventId=x")):
        assert call(edge, "GET", PATH, headers, query=query).status == 204, (headers, query)
    assert reached == [PATH] * 2


def test_a_scope_without_a_query_string_is_streamed_on_the_fast_path(published):
    """ASGI lets a server leave `query_string` out (it defaults to empty): such a request is
    an ordinary new stream, served by the edge, not an error."""
    reached = []
    request = scope("GET", PATH)
    del request["query_string"]
    opening = _opening(Edge(django_stand_in(reached)), request)
    assert opening.startswith(b'event: init\ndata: {"total": 41, "source": "cache", "at": ')
    assert reached == []


async def _inits(app, clients: int) -> tuple[list[dict], int]:
    """Opens `clients` streams at once; their init events and the threads while open."""
    streams = [OpenStream(app, dict(scope("GET", PATH))) for _ in range(clients)]
    await asyncio.gather(*(stream.__aenter__() for stream in streams))
    openings = await asyncio.gather(*(stream.read_until(OPENED) for stream in streams))
    threads = threading.active_count()
    for stream in streams:
        await stream.__aexit__()
    inits = [json.loads(opening.split(b"data: ", 1)[1].split(b"\n", 1)[0]) for opening in openings]
    return inits, threads


def test_a_miss_is_counted_once_and_streamed_without_a_thread_per_client(published, monkeypatch):
    """A reconnect storm after a Redis flush: every client gets init with the count, counted
    once in the database (the contract's one exception), and no client holds a thread."""
    from metrics_cache.today import current as live_views

    counted = []
    count_in_database = live_views._count_in_database
    monkeypatch.setattr(
        live_views, "_count_in_database", lambda: counted.append(1) or count_in_database()
    )
    reached = []
    edge = Edge(django_stand_in(reached))
    base_redis.client().delete(keys.today_count())
    before = threading.active_count()
    inits, during = async_to_sync(_inits)(edge, 60)
    assert reached == []
    assert counted == [1]
    assert {init["total"] for init in inits} == {0}  # no visit today in the library
    assert {init["source"] for init in inits} <= {"db", "cache"} and inits[0]["source"] == "db"
    assert during - before < 5, "no thread per client"
    assert sse.broadcast_of("default").clients == 0


def test_redis_unreachable_streams_the_database_count(published, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": settings.REDIS_URL}}
    reached = []
    inits, _ = async_to_sync(_inits)(Edge(django_stand_in(reached)), 3)
    assert reached == []
    assert [(init["total"], init["source"]) for init in inits] == [(0, "db")] * 3


def _opening(edge, request: dict | None = None) -> bytes:
    """What one client reads when its stream opens: init, the opening, any update sent with it."""

    async def run():
        stream = OpenStream(edge, request or dict(scope("GET", PATH)))
        await stream.__aenter__()
        opening = await stream.read_until(OPENED)
        await stream.__aexit__()
        return opening

    return async_to_sync(run)()


def test_a_cached_count_is_streamed_without_counting(published, monkeypatch):
    """The count is in Redis: the stream opens with it and no pool thread counts."""
    from metrics_cache.serving import edge as edge_module

    counted = []
    monkeypatch.setattr(edge_module, "_count_today", lambda: counted.append(1) or (None, "db"))
    opening = _opening(Edge(django_stand_in([])))
    assert opening.startswith(b'event: init\ndata: {"total": 41, "source": "cache", "at": ')
    assert counted == []


@pytest.mark.parametrize(("total", "sent_again"), [(41, False), (42, True)])
def test_an_update_arriving_while_the_stream_opens_is_sent_only_if_it_changes_the_count(
    published, monkeypatch, total, sent_again
):
    """An update published between reading the count and joining the broadcast: sent with the
    opening when it differs from the count in init, not repeated when it is the same."""
    from metrics_cache.serving import edge as edge_module

    read = edge_module.todays_value

    def read_then_update(raw):
        value = read(raw)
        fanout.deliver(
            "default", json.dumps({"total": total, "generated_at": "2026-11-18T10:00:01+07:00"})
        )
        return value

    monkeypatch.setattr(edge_module, "todays_value", read_then_update)
    opening = _opening(Edge(django_stand_in([])))
    assert opening.startswith(b'event: init\ndata: {"total": 41, "source": "cache", "at": ')
    assert (b"event: update" in opening) is sent_again


def test_with_redis_and_the_library_database_both_down_the_stream_still_opens(
    published, settings, monkeypatch
):
    """Neither the cache nor the database answers: the stream opens with a null count and says
    so ("unavailable"); the screen shows that, and updates follow once Redis is back."""
    from django.db import connections

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": settings.REDIS_URL}}
    library = connections["library"]
    library.close()
    monkeypatch.setitem(library.settings_dict, "PORT", 1)  # nothing listens there
    try:
        inits, _ = async_to_sync(_inits)(Edge(django_stand_in([])), 2)
    finally:
        library.close()
    assert [(init["total"], init["source"]) for init in inits] == [(None, "unavailable")] * 2


def test_a_count_published_through_redis_reaches_both_streams(published):
    """The first stream starts this process's fan-out; a count published in Redis (by the fast
    loop or a kiosk, in another process) reaches the edge's clients and django-eventstream's."""
    from metrics_cache.base import keys

    channel = keys.today_events_channel()

    async def subscribed():
        async with asyncio.timeout(10):
            while base_redis.client().pubsub_numsub(channel)[0][1] < 1:
                await asyncio.sleep(0.02)

    async def run():
        request = scope("GET", PATH)
        async with OpenStream(application, dict(request)) as edge, \
                OpenStream(application, dict(request)) as second, \
                OpenStream(django_application, dict(request)) as direct:  # fmt: skip
            await edge.read_until(OPENED), await direct.read_until(OPENED)
            await second.read_until(OPENED)  # the second stream starts no second fan-out
            await subscribed()
            # django-eventstream drops events queued before its stream first waits: publish
            # again (a higher count each time) until its client has one, within a bound.
            for total in range(55, 80):
                publishing.publish(total, datetime(2026, 11, 18).date())
                try:
                    direct_update = await direct.read_until(b"\n\n", timeout=0.2)
                    break
                except TimeoutError:
                    continue
            edge_update = await edge.read_until(b'"total": 55')
            publishing.publish(90, datetime(2026, 11, 18).date())
            seconds = await second.read_until(b'"total": 90')
        assert seconds.count(b'"total": 55') == 1, "each update once, not once per fan-out"
        return edge_update, direct_update

    edge_update, direct_update = async_to_sync(run)()
    assert edge_update.startswith(
        b'event: update\ndata: {"total": 55, "generated_at": "2026-11-18T'
    )
    assert direct_update.startswith(b'event: update\ndata: {"total": ')
