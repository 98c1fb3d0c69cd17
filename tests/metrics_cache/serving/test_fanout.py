"""Live updates through Redis pub/sub: screens get the current count once Redis is back, and
two deployments on one Redis server never hear each other."""

from __future__ import annotations

import asyncio
import json
import os
import time
from types import SimpleNamespace

import pytest
from django.utils import timezone
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.base import redis as base_redis
from metrics_cache.serving import fanout
from metrics_cache.today import publishing

WAIT_LIMIT_SECONDS = 10


def other_deployments_channel(settings) -> str:
    """The channel of a deployment whose REDIS_URL names another database on this server."""
    ours = settings.REDIS_URL
    base, db = ours.rsplit("/", 1)
    settings.REDIS_URL = f"{base}/{(int(db) + 3) % 16}"
    try:
        return keys.today_events_channel()
    finally:
        settings.REDIS_URL = ours


def drain(pubsub) -> list[dict]:
    messages = []
    while (message := pubsub.get_message(timeout=0.3)) is not None:
        if message["type"] == "message":
            messages.append(json.loads(message["data"]))
    return messages


@pytest.mark.django_db
def test_two_deployments_on_one_redis_server_never_hear_each_other(settings):
    client = get_redis_connection("default")
    ours, theirs = client.pubsub(), client.pubsub()
    ours.subscribe(keys.today_events_channel())
    theirs.subscribe(other_deployments_channel(settings))
    drain(ours), drain(theirs)  # the subscribe confirmations
    publishing.publish(4, timezone.localdate())
    assert [m["total"] for m in drain(ours)] == [4]
    assert drain(theirs) == []
    # The other deployment publishes on its channel: nothing reaches ours.
    client.publish(other_deployments_channel(settings), json.dumps({"total": 99}))
    assert drain(ours) == []
    ours.close(), theirs.close()


@pytest.fixture
def fan_out(settings, monkeypatch):
    """This process's fan-out task on its own event loop, with what it delivers to screens."""
    name = f"libdash-fanout-test-{os.getpid()}"
    settings.REDIS_URL = f"{settings.REDIS_URL}?client_name={name}"
    delivered: list[dict] = []
    monkeypatch.setattr(fanout, "deliver", lambda _, data: delivered.append(json.loads(data)))
    loop = asyncio.new_event_loop()
    task = loop.create_task(fanout._subscribe_forever())

    def run_until(condition) -> None:
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while not condition():
            assert time.monotonic() < deadline, "the fan-out did not get there in time"
            loop.run_until_complete(asyncio.sleep(0.05))

    def subscribers() -> list[dict]:
        """The fan-out's subscribed connections (it reads the counts on another)."""
        return [
            c
            for c in get_redis_connection("default").client_list()
            if c["name"] == name and int(c["sub"]) > 0
        ]

    try:
        yield delivered, run_until, subscribers
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()


def stored_update() -> dict:
    value = json.loads(base_redis.client().get(keys.today_count()))
    return {"total": value["total"], "generated_at": value["generated_at"]}


@pytest.mark.django_db
def test_after_redis_comes_back_screens_get_the_current_count(fan_out, caplog):
    delivered, run_until, subscribers = fan_out
    day = timezone.localdate()
    run_until(lambda: len(subscribers()) == 1)
    publishing.publish(5, day)
    run_until(lambda: len(delivered) == 1)
    assert delivered[0] == stored_update()
    assert [r.message for r in caplog.records if r.name == fanout.__name__] == []
    for outage, total in enumerate((7, 9)):
        # Redis drops the fan-out's connection (a restart, as far as the fan-out can tell), and
        # a count changes while nobody listens; the loop has not run since, so it cannot have
        # heard.
        connection = subscribers()[0]["id"]
        get_redis_connection("default").execute_command("CLIENT", "KILL", "ID", connection)
        publishing.publish(total, day)
        run_until(lambda: len(delivered) == 2 + 2 * outage)  # noqa: B023
        assert delivered[-1] == stored_update()  # the current count, no new visit needed
        publishing.publish(total + 1, day)  # and it listens again
        run_until(lambda: len(delivered) == 3 + 2 * outage)  # noqa: B023
        assert delivered[-1]["total"] == total + 1
    # Each outage is told once when it starts and once when it ends, for the operator.
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == fanout.__name__]
    assert [level for level, _ in logged] == ["WARNING"] * 4
    assert [message.split(" (")[0] for _, message in logged] == [
        "SSE fan-out lost Redis", "SSE fan-out reconnected to Redis"
    ] * 2  # fmt: skip
    lost = "SSE fan-out lost Redis (ConnectionError: Connection closed by server.); retrying"
    assert logged[0][1] == logged[2][1] == lost, "what failed, and how"


@pytest.mark.django_db
def test_while_redis_is_down_the_fan_out_retries_with_backoff(settings, monkeypatch):
    """Half a second, then doubling up to five: quick to come back, light on a Redis that is
    restarting. Each retry opens a new connection (a Redis restart loses the old one)."""
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds):
        delays.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(fanout, "asyncio", SimpleNamespace(
        sleep=recording_sleep, CancelledError=asyncio.CancelledError))  # fmt: skip
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    loop = asyncio.new_event_loop()
    task = loop.create_task(fanout._subscribe_forever())
    try:
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while len(delays) < 7:
            assert time.monotonic() < deadline, "the fan-out stopped retrying"
            loop.run_until_complete(real_sleep(0.01))
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()
    assert delays[:7] == [0.5, 1, 2, 4, 5, 5, 5]
