"""No job's message lost between the broker and a worker. Redis hands a worker a message by
popping it off its queue (BRPOP); the worker then records it as reserved (kombu's `unacked`
hash), where a worker lost later leaves it for another. A worker killed between the two (a few
milliseconds of each message it takes) leaves the message nowhere, and kombu's Redis transport
has no atomic pop-and-reserve. So each job's message is also written down here, in the broker's
database, as it is sent, with its place in the order of sending; a worker that receives it (or
discards it as expired) strikes it out. A queue is first in, first out: a message still written
down after a later one of its queue was received was popped by a worker that is gone, unless it
is still at the head of its queue (two senders racing), and the sweep sends its job again once
an earlier sweep, half an interval before at least, found it so too. The fast loop's messages
are not written down: each expires within seconds and the next tick counts what a lost one
would have."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from datetime import datetime

from celery import current_app
from redis.commands.core import Script
from redis.exceptions import RedisError

from config.services import LIVE_QUEUE
from metrics_cache.base import keys

logger = logging.getLogger(__name__)

# The sweep runs this often; a message found popped and unreceived is sent again at the sweep
# after the one that first found it so.
SWEEP_SECONDS = 10
# How many messages at the head of a queue the sweep looks through for a suspected one.
QUEUE_HEAD_MESSAGES = 100
# Any distinct names would do: each is read and written under its one name here.
ORDER, MESSAGES, SEQUENCE, RECEIVED, SUSPECTS = (  # pragma: no mutate
    keys.in_transit(name) for name in ("order", "messages", "sequence", "received", "suspects")
)

# KEYS: order, messages, sequence. ARGV: id, the message. Its place in the order of sending.
_WRITE = Script(
    None,
    b"""
local place = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], place, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return place
""",
)
# KEYS: order, messages, received. ARGV: id. Strikes the message out and raises its queue's mark
# (the latest place received); 1 if it was written down.
_STRIKE = Script(
    None,
    b"""
local place = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not place then return 0 end
local queue = cjson.decode(redis.call('HGET', KEYS[2], ARGV[1]))['queue']
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
local mark = redis.call('HGET', KEYS[3], queue)
if not mark or tonumber(place) > tonumber(mark) then
  redis.call('HSET', KEYS[3], queue, place)
end
return 1
""",
)
# KEYS: order, messages. ARGV: id. The message, struck out, if it was still written down.
_CLAIM = Script(
    None,
    b"""
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local message = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return message
""",
)


@contextlib.contextmanager
def broker():
    """A client of the broker's Redis database (Celery's own connection: REDIS_URL's next
    database, or Sentinel's primary)."""
    with current_app.pool.acquire(block=True) as connection:
        yield connection.default_channel.client


def on_publish(sender=None, headers=None, body=None, routing_key=None, **kwargs) -> None:
    """before_task_publish: writes the message down (its job, arguments, queue, expiry); not
    the fast loop's (every task on the live queue)."""
    if routing_key == LIVE_QUEUE:
        return
    args, task_kwargs = body[0], body[1]
    message = {"task": sender, "args": args, "kwargs": task_kwargs, "queue": routing_key,
               "eta": headers.get("eta"), "expires": headers.get("expires")}  # fmt: skip
    try:
        with broker() as redis:
            _WRITE(keys=[ORDER, MESSAGES, SEQUENCE],
                   args=[headers["id"], json.dumps(message)], client=redis)  # fmt: skip
    except RedisError as exc:
        logger.warning("message %s of %s not written down: %s", headers["id"], sender, exc)


def strike(task_id: str) -> bool:
    """The message `task_id` reached a worker."""
    with broker() as redis:
        return bool(_STRIKE(keys=[ORDER, MESSAGES, RECEIVED], args=[task_id],
                            client=redis))  # fmt: skip


def on_received(sender=None, request=None, **kwargs) -> None:
    """task_received (a worker's Request) and task_revoked (the task's Context: an expired
    message is discarded unreceived)."""
    try:
        strike(request.id)
    except RedisError as exc:
        logger.warning("message %s not struck out: %s", request.id, exc)


def sweep(now: float | None = None) -> list[str]:
    """Sends again the jobs whose message was popped by a worker that is gone; their new ids."""
    now = time.time() if now is None else now
    with broker() as redis:
        marks = {q.decode(): float(p) for q, p in redis.hgetall(RECEIVED).items()}
        if not marks:
            return []
        below = f"({max(marks.values())}"
        behind = redis.zrangebyscore(ORDER, "-inf", below, withscores=True)  # pragma: no mutate
        lost = _popped(redis, behind, marks)
        suspects = {k.decode(): float(v) for k, v in redis.hgetall(SUSPECTS).items()}
        pipe = redis.pipeline(transaction=False)  # pragma: no mutate (MULTI or not: the same)
        pipe.delete(SUSPECTS)
        for task_id in lost:
            pipe.hset(SUSPECTS, task_id, suspects.get(task_id, now))
        pipe.execute()
        # Suspected at an earlier sweep (beat's intervals are not exact: half of one).
        due = [t for t in lost if now - suspects.get(t, now) >= SWEEP_SECONDS / 2]
        sent = []
        for task_id in due:
            raw = _CLAIM(keys=[ORDER, MESSAGES], args=[task_id], client=redis)
            if raw is not None:
                sent += _send_again(task_id, json.loads(raw), now)
    return sent


def _popped(redis, behind: list, marks: dict) -> list[str]:
    """Of the messages written down before their queue's mark, those not at its head: ids."""
    found: list[str] = []
    if not behind:
        return found
    messages = redis.hmget(MESSAGES, [id_ for id_, _ in behind])
    heads: dict[str, list[bytes]] = {}
    # One reply per id asked: zip's strictness never matters.
    for (id_, place), raw in zip(behind, messages, strict=True):  # pragma: no mutate
        if raw is None:
            continue  # received since the first read
        queue = json.loads(raw)["queue"]
        # No mark (nothing of its queue received) or a mark at its place (that is, itself
        # received): the same; no place is 0.
        if place >= marks.get(queue, 0):  # pragma: no mutate
            continue
        if queue not in heads:
            heads[queue] = redis.lrange(queue, -QUEUE_HEAD_MESSAGES, -1)
        if not any(id_ in waiting for waiting in heads[queue]):
            found.append(id_.decode())
    return found


def _send_again(task_id: str, message: dict, now: float) -> list[str]:
    expires = message["expires"] and datetime.fromisoformat(message["expires"])
    if expires and expires.timestamp() <= now:
        logger.info("lost message %s of %s past its expiry: not sent again", task_id,
                    message["task"])  # fmt: skip
        return []
    eta = message["eta"] and datetime.fromisoformat(message["eta"])
    result = current_app.send_task(
        message["task"], args=message["args"], kwargs=message["kwargs"],
        queue=message["queue"], eta=eta or None, expires=expires or None,
        parent_id=task_id,  # a copy of the lost message (not a child of the sweep)
    )  # fmt: skip
    logger.warning("message %s of %s lost between the broker and a worker: sent again as %s",
                   task_id, message["task"], result.id)  # fmt: skip
    return [result.id]
