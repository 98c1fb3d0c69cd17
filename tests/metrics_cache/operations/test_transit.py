"""A job's message popped off the broker by a worker that is gone before it reserved it is sent
again; one merely waiting in its queue, or one that reached a worker, never is."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.services import BUILD_QUEUE, LIVE_QUEUE
from metrics_cache.base import keys
from metrics_cache.operations import schedules, transit
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups
from metrics_cache.today.tasks import sync_today_group


def queued(broker, queue: str = "celery") -> list[dict]:
    """The messages waiting on `queue`, the next to be taken first."""
    found = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        head = message["headers"]
        found.append({"id": head["id"], "task": head["task"], "args": args, "kwargs": kwargs,
                      "eta": head["eta"], "expires": head["expires"],
                      "parent": head["parent_id"]})  # fmt: skip
    return found


def written_down(broker) -> set[str]:
    return {i.decode() for i in broker.hkeys(keys.in_transit("messages"))}


def take(broker, queue: str = "celery") -> dict:
    """Pops the next message as a worker's BRPOP does."""
    nexts = queued(broker, queue)[0]
    broker.rpop(queue)
    return nexts


def sweep_twice() -> list[str]:
    """Two sweeps an interval apart: the first only suspects."""
    now = time.time()
    assert transit.sweep(now) == []
    return transit.sweep(now + transit.SWEEP_SECONDS)


@pytest.fixture
def sent(broker):
    """Sends a job (as the library's code does) and returns its message as queued."""

    def send(task, **options) -> dict:
        result = task.apply_async(**options)
        return next(
            m for m in queued(broker, options.get("queue", "celery")) if m["id"] == result.id
        )

    return send


def test_a_sent_job_is_written_down_until_a_worker_receives_it(broker, sent):
    job = sent(fold_rollups)
    assert written_down(broker) == {job["id"]}
    assert transit.strike(job["id"]) is True
    assert written_down(broker) == set()
    assert transit.strike(job["id"]) is False


def test_the_fast_loop_s_ticks_are_not_written_down(broker):
    sync_today_group.apply_async(kwargs={"group": 0, "groups": 1})
    assert broker.llen("live") == 1
    assert written_down(broker) == set()


def test_a_message_popped_by_a_lost_worker_is_sent_again(broker, sent):
    lost = sent(copy_report_lookups)
    later = sent(refresh_circulation)
    take(broker)  # a worker popped it, then died before reserving it
    assert take(broker)["id"] == later["id"]
    transit.strike(later["id"])  # another worker received the next one

    again = sweep_twice()
    assert len(again) == 1
    [message] = queued(broker)
    assert message["id"] == again[0] != lost["id"]
    assert (message["task"], message["args"], message["kwargs"]) == (
        "metrics_cache.copy_report_lookups", [], {"library": "default"},
    )  # fmt: skip
    assert message["parent"] == lost["id"], "a copy of the lost message, for tracing"
    assert written_down(broker) == set(again), "the copy is written down in its turn"
    assert transit.sweep(time.time() + 60) == [], "sent once"


def test_a_lost_message_goes_back_to_its_queue_with_its_eta(broker, sent):
    eta = timezone.now() + timedelta(minutes=5)
    sent(fold_rollups, queue=BUILD_QUEUE, eta=eta)
    later = sent(fold_rollups, queue=BUILD_QUEUE)
    take(broker, BUILD_QUEUE)
    take(broker, BUILD_QUEUE)
    transit.strike(later["id"])
    assert len(sweep_twice()) == 1
    [message] = queued(broker, BUILD_QUEUE)
    assert message["task"] == "metrics_cache.fold_rollups"
    assert message["eta"] == eta.isoformat()
    assert queued(broker) == []


def test_a_message_still_waiting_at_the_head_of_its_queue_is_not_sent_again(broker, sent):
    """Two senders raced: the later-written message was pushed, and taken, first."""
    waiting = sent(copy_report_lookups)
    later = sent(refresh_circulation)
    broker.lrem("celery", 1, broker.lindex("celery", 0))  # the later one taken
    transit.strike(later["id"])
    assert sweep_twice() == []
    assert [m["id"] for m in queued(broker)] == [waiting["id"]]
    assert written_down(broker) == {waiting["id"]}


def test_nothing_is_sent_again_while_no_later_message_of_its_queue_was_received(broker, sent):
    sent(copy_report_lookups)
    other_queue = sent(fold_rollups, queue=BUILD_QUEUE)
    take(broker)
    take(broker, BUILD_QUEUE)
    transit.strike(other_queue["id"])  # a later message, of another queue
    assert sweep_twice() == []


def test_a_lost_message_past_its_expiry_is_struck_out_unsent(broker, sent):
    lost = sent(copy_report_lookups, expires=30)
    later = sent(refresh_circulation)
    take(broker)
    take(broker)
    transit.strike(later["id"])
    now = time.time() + 60
    assert transit.sweep(now) == []
    assert transit.sweep(now + transit.SWEEP_SECONDS) == []
    assert queued(broker) == []
    assert lost["id"] not in written_down(broker)


@pytest.mark.django_db
def test_the_sweep_runs_every_few_seconds_on_the_live_queue():
    """On `celery` it would wait behind the very backlog whose lost messages it looks for."""
    schedules.sync_live_schedules()
    periodic = PeriodicTask.objects.get(name=schedules.RESEND_LOST)
    assert periodic.task == "metrics_cache.resend_lost_messages"
    assert (periodic.interval.every, periodic.interval.period) == (transit.SWEEP_SECONDS, "seconds")
    assert periodic.enabled and periodic.expire_seconds == transit.SWEEP_SECONDS
    route = current_app.amqp.router.route({}, periodic.task)
    assert route["queue"].name == LIVE_QUEUE


def test_an_earlier_message_received_late_hides_no_lost_one(broker, sent):
    """A message received after later ones (a worker slow to record it, or one handed back by
    the broker's visibility timeout) leaves its queue's mark where the latest put it."""
    slow = sent(refresh_circulation)
    lost = sent(copy_report_lookups)
    later = sent(fold_rollups)
    for _ in range(3):
        take(broker)
    transit.strike(later["id"])
    transit.strike(slow["id"])
    again = sweep_twice()
    assert [m["task"] for m in queued(broker)] == ["metrics_cache.copy_report_lookups"]
    assert written_down(broker) == set(again) and lost["id"] not in again
