"""A library's first build goes step after step through a queue of its own, so its steps never
wait behind every library's interval jobs on `celery`, where they would expire unrun."""

from __future__ import annotations

import json

from config.services import BUILD_QUEUE
from metrics_cache.operations import schedules
from metrics_cache.rollups import tasks
from tests.support.library import library_test

pytestmark = library_test


def queued(broker, queue: str) -> list[dict]:
    """The messages on `queue`: their task and expiry."""
    messages = [json.loads(raw)["headers"] for raw in broker.lrange(queue, 0, -1)]
    return [{"task": m["task"], "expires": m.get("expires")} for m in messages]


def test_a_build_s_next_step_is_queued_on_the_build_queue(library, broker, monkeypatch):
    monkeypatch.setattr(tasks.jobs, "build_step", lambda: False)  # the build is not over
    assert tasks.fold_rollups() == "building"
    assert [m["task"] for m in queued(broker, BUILD_QUEUE)] == ["metrics_cache.fold_rollups"]
    assert queued(broker, "celery") == []


def test_a_built_library_queues_no_next_step(library, broker, monkeypatch):
    monkeypatch.setattr(tasks.jobs, "build_step", lambda: True)
    assert tasks.fold_rollups() == "built"
    assert queued(broker, BUILD_QUEUE) == [] and queued(broker, "celery") == []


def test_the_start_up_fold_is_a_build_step_that_never_expires(library, broker):
    """Behind hundreds of libraries' start-up jobs it would expire, and an unbuilt library would
    then wait for a beat fold that finds `celery` short enough to run before its expiry."""
    schedules.prewarm_on_start()
    assert queued(broker, BUILD_QUEUE) == [{"task": "metrics_cache.fold_rollups", "expires": None}]
    others = queued(broker, "celery")
    assert {m["task"] for m in others} == {
        "metrics_cache.prewarm", "metrics_cache.copy_report_lookups",
        "metrics_cache.refresh_circulation",
    }  # fmt: skip
    assert all(m["expires"] for m in others), "the other start-up jobs still expire"
