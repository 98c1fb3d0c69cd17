"""A job's message popped off the broker by a worker that is gone before it reserved it is sent
again; one merely waiting in its queue, or one that reached a worker, never is."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from datetime import datetime, timedelta

import pytest
import redis
import time_machine
from celery import current_app
from celery.app.task import Context
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.services import BUILD_QUEUE, LIVE_QUEUE
from metrics_cache.base import keys
from metrics_cache.operations import schedules, transit
from metrics_cache.operations.tasks import resend_lost_messages
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups
from metrics_cache.snapshots.tasks import refresh_group
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


def lose(broker, *jobs: dict) -> None:
    """Pops every message queued (the `jobs` lost with a dead worker, any other received)."""
    lost = {job["id"] for job in jobs}
    for queue in ("celery", BUILD_QUEUE):
        while broker.llen(queue):
            taken = take(broker, queue)
            if taken["id"] not in lost:
                transit.strike(taken["id"])


def test_the_sweep_task_reads_the_clock(broker, sent):
    lost = sent(copy_report_lookups)
    sent(refresh_circulation)
    lose(broker, lost)
    with time_machine.travel(time.time(), tick=False) as clock:
        assert resend_lost_messages.apply().get() == 0
        clock.shift(transit.SWEEP_SECONDS)
        assert resend_lost_messages.apply().get() == 1


@pytest.mark.parametrize(
    ("sweeps", "sent_again"),
    [((0, 4), False), ((0, 5), True), ((0, 3, 6), True)],
    ids=["too-soon", "half-an-interval", "first-seen-kept"],
)
def test_a_suspect_is_sent_again_half_an_interval_after_it_was_first_seen(
    broker, sent, sweeps, sent_again
):
    """Beat's intervals are not exact: half of one after the sweep that first found it."""
    lost = sent(copy_report_lookups)
    sent(refresh_circulation)
    lose(broker, lost)
    start = time.time()
    found = [transit.sweep(start + at) for at in sweeps]
    assert all(again == [] for again in found[:-1])
    assert bool(found[-1]) is sent_again


def test_a_suspect_received_before_the_next_sweep_is_not_sent_again(broker, sent):
    """A worker slow to record what it popped: the suspicion goes with its receipt."""
    slow = sent(copy_report_lookups)
    sent(refresh_circulation)
    lose(broker, slow)
    now = time.time()
    assert transit.sweep(now) == []
    assert broker.hkeys(keys.in_transit("suspects")) == [slow["id"].encode()]
    transit.strike(slow["id"])
    assert transit.sweep(now + transit.SWEEP_SECONDS) == []
    assert broker.hlen(keys.in_transit("suspects")) == 0


def test_every_lost_message_of_a_sweep_is_sent_again_whatever_comes_before(broker, sent):
    waiting_elsewhere = sent(fold_rollups, queue=BUILD_QUEUE)  # nothing later of its queue
    first = sent(refresh_group, args=["visitors"], expires=600)
    second = sent(copy_report_lookups)
    sent(refresh_circulation)
    broker.delete(BUILD_QUEUE)
    lose(broker, first, second)
    again = sweep_twice()
    assert len(again) == 2
    copies = {m["task"]: m for m in queued(broker)}
    assert copies["metrics_cache.refresh_group"]["args"] == ["visitors"]
    assert copies["metrics_cache.refresh_group"]["expires"] == first["expires"]
    assert waiting_elsewhere["id"] in written_down(broker)


def test_a_message_read_as_received_in_the_middle_of_a_sweep_is_passed_over(broker, sent):
    """Received between the sweep's two reads: its place is listed, its message gone."""
    lost = sent(copy_report_lookups)
    sent(refresh_circulation)
    lose(broker, lost)
    broker.zadd(keys.in_transit("order"), {"received-meanwhile": 0.5})
    assert len(sweep_twice()) == 1


def test_a_message_at_the_head_of_a_long_queue_is_found_there(broker, sent):
    waiting = sent(copy_report_lookups)
    later = sent(refresh_circulation)
    broker.lrem("celery", 1, broker.lindex("celery", 0))
    transit.strike(later["id"])
    for _ in range(3):
        sent(fold_rollups)  # newer messages, further from the head
    assert sweep_twice() == []
    assert waiting["id"] in written_down(broker)


def test_lost_at_its_very_expiry_is_not_sent_again_and_says_so(broker, sent, caplog):
    lost = sent(copy_report_lookups, expires=30)
    sent(refresh_circulation)
    lose(broker, lost)
    at = datetime.fromisoformat(lost["expires"]).timestamp()
    transit.sweep(at - transit.SWEEP_SECONDS)
    with caplog.at_level(logging.INFO, logger=transit.__name__):
        assert transit.sweep(at) == []
    assert caplog.messages == [
        f"lost message {lost['id']} of metrics_cache.copy_report_lookups past its expiry: not "
        "sent again"
    ]


def test_a_message_sent_again_is_logged_with_both_ids(broker, sent, caplog):
    lost = sent(copy_report_lookups)
    sent(refresh_circulation)
    lose(broker, lost)
    with caplog.at_level(logging.WARNING, logger=transit.__name__):
        [again] = sweep_twice()
    assert caplog.messages == [
        f"message {lost['id']} of metrics_cache.copy_report_lookups lost between the broker and "
        f"a worker: sent again as {again}"
    ]


def test_a_received_message_is_struck_out_by_the_worker_s_signal(broker, sent):
    """task_revoked hands the task's Context (a worker's Request has the same `id`)."""
    job = sent(copy_report_lookups)
    transit.on_received(request=Context(id=job["id"], task=copy_report_lookups.name))
    assert written_down(broker) == set()


@pytest.fixture
def broker_down(monkeypatch):
    @contextlib.contextmanager
    def unreachable():
        yield redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))

    monkeypatch.setattr(transit, "broker", unreachable)


def test_without_the_broker_nothing_is_written_down_and_the_log_says_which(broker_down, caplog):
    headers = {"id": "job-1", "eta": None, "expires": None}
    with caplog.at_level(logging.WARNING, logger=transit.__name__):
        transit.on_publish(sender="metrics_cache.fold_rollups", headers=headers,
                           body=([], {}, {}), routing_key="celery")  # fmt: skip
        transit.on_received(request=Context(id="job-2"))
    written, struck = caplog.messages
    assert written.startswith("message job-1 of metrics_cache.fold_rollups not written down: ")
    assert struck.startswith("message job-2 not struck out: ")
    assert all("connecting to localhost:1" in message for message in caplog.messages), "why"
