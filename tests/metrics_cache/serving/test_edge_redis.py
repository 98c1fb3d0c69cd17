"""The fast path's Redis: one bounded pool per event loop, and a Redis that does not answer, or
answers too slowly, sends the request to Django."""

from __future__ import annotations

import asyncio
import os
import socket

from asgiref.sync import async_to_sync

from metrics_cache.base import redis as base_redis
from metrics_cache.serving import edge as edge_module
from metrics_cache.serving.edge import Edge
from tests.support.asgi import _call, django_stand_in, scope
from tests.support.edge import CountingDjango
from tests.support.library import library_test

pytestmark = library_test


def test_one_redis_pool_per_event_loop_and_bounded(stored, settings, monkeypatch):
    """Requests reuse this process's connections; a burst waits for one of at most
    REDIS_CONNECTIONS instead of opening one per request."""
    name = f"libdash-edge-test-{os.getpid()}"
    settings.REDIS_URL = f"{settings.REDIS_URL}?client_name={name}"
    monkeypatch.setattr(edge_module, "REDIS_CONNECTIONS", 3)
    edge = Edge(CountingDjango())

    async def burst(requests):
        answers = await asyncio.gather(
            *(_call(edge, scope("GET", "/api/visitors/weekly")) for _ in range(requests))
        )
        return [answer.status for answer in answers]

    async def run():
        statuses = await burst(20)
        for _ in range(10):
            statuses += await burst(1)
        return statuses

    statuses = async_to_sync(run)()
    assert statuses == [200] * 30, "every request answered by the fast path"
    connections = [c for c in base_redis.client().client_list() if c["name"] == name]
    assert 1 <= len(connections) <= 3


def test_a_redis_that_does_not_answer_sends_the_request_to_django(stored, settings, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    monkeypatch.setattr(edge_module, "REDIS_TIMEOUT_SECONDS", 0.3)
    reached = []
    django_app = django_stand_in(reached)

    async def run():
        async with asyncio.timeout(10):
            return await _call(Edge(django_app), scope("GET", "/api/visitors/weekly"))

    try:
        assert async_to_sync(run)().status == 204
    finally:
        silent.close()
    assert reached == ["/api/visitors/weekly"]


def test_a_redis_slower_than_the_limit_sends_the_request_to_django(stored, monkeypatch):
    """Redis connected but not answering in time (a pause, a long command ahead): the
    request goes to Django after REDIS_TIMEOUT_SECONDS rather than waiting on Redis."""
    monkeypatch.setattr(edge_module, "REDIS_TIMEOUT_SECONDS", 0.3)
    reached = []
    django_app = django_stand_in(reached)

    edge = Edge(django_app)

    async def run():
        first = await _call(edge, scope("GET", "/api/visitors/weekly"))  # connected
        base_redis.client().execute_command(
            "CLIENT", "PAUSE", 1500, "WRITE"
        )  # the count is a write
        try:
            async with asyncio.timeout(10):
                second = await _call(edge, scope("GET", "/api/visitors/weekly"))
        finally:
            base_redis.client().execute_command("CLIENT", "UNPAUSE")
        return first.status, second.status

    assert async_to_sync(run)() == (200, 204)
    assert reached == ["/api/visitors/weekly"]
