"""A library's jobs run one at a time: one that finds another of its library's running hands
itself to it and ends; the running one runs it after its own, and a list a lost worker left is
run by a job the sweep sends."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from config.services import BUILD_QUEUE
from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.operations import breaker, handover
from metrics_cache.operations.tasks import resend_lost_messages, run_handed_jobs
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups
from metrics_cache.snapshots.tasks import refresh_group

pytestmark = pytest.mark.django_db(databases=["default", "library"])

DEFAULT = {"library": "default"}


@pytest.fixture
def ran(monkeypatch) -> list[tuple[str, int]]:
    """The jobs run, in order, each with whether the library's slot was held while it ran; the
    fold's, circulation's and copy's work replaced by that note."""
    seen: list[tuple[str, int]] = []

    def note(name, result):
        def job(*args, **kwargs):
            seen.append((name, client().exists(keys.library_jobs())))
            return result

        return job

    monkeypatch.setattr("metrics_cache.rollups.tasks.jobs.build_step", note("fold", True))
    monkeypatch.setattr("metrics_cache.reports.tasks.after_folds", note("circulation", True))
    monkeypatch.setattr("metrics_cache.reports.tasks.copy_lookups", note("copy", {}))
    return seen


def handed() -> list[dict]:
    return [json.loads(entry) for entry in client().lrange(keys.handed_jobs(), 0, -1)]


def queued(broker, queue: str) -> list[dict]:
    """The messages on `queue` (oldest first): task, parent and keyword arguments."""
    found = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        head = message["headers"]
        found.append({"task": head["task"], "parent_id": head["parent_id"], "kwargs": kwargs})
    return found


def test_a_job_finding_its_library_s_slot_taken_is_handed_to_the_holder(library, ran):
    with run_once(keys.library_jobs(), timeout=60) as mine:
        assert mine
        result = copy_report_lookups.apply(kwargs=DEFAULT, routing_key="celery")
        assert result.get() == handover.HANDED
        assert ran == [], "not run beside the holder"
    [entry] = handed()
    assert entry == {"id": result.id, "task": copy_report_lookups.name, "args": [],
                     "kwargs": DEFAULT, "queue": "celery"}  # fmt: skip
    # The library's next job takes the free slot and runs what was handed to it, in order.
    assert fold_rollups.apply(kwargs=DEFAULT).get() == "built"
    assert ran == [("copy", 1), ("fold", 1)]
    assert handed() == [] and not client().exists(keys.library_jobs())


def test_handed_jobs_run_in_the_order_written_the_holder_s_own_in_its_place(library, ran):
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
        refresh_group.apply(args=["visitors"], kwargs=DEFAULT)
    [first, second] = handed()
    assert (first["task"], second["args"]) == (refresh_circulation.name, ["visitors"])
    assert copy_report_lookups.apply(kwargs=DEFAULT).get() == {}
    assert [name for name, _ in ran] == ["circulation", "copy"]


def test_a_handed_job_runs_under_its_own_task_id(library, monkeypatch):
    ids = []
    monkeypatch.setattr(
        "metrics_cache.reports.tasks.after_folds",
        lambda today: ids.append(refresh_circulation.request.id) or True,
    )
    monkeypatch.setattr("metrics_cache.reports.tasks.copy_lookups", lambda: {})
    with run_once(keys.library_jobs(), timeout=60):
        sent = refresh_circulation.apply(kwargs=DEFAULT)
    copy_report_lookups.apply(kwargs=DEFAULT)
    assert ids == [sent.id]


def test_the_holder_s_own_failure_stops_none_of_the_others_and_is_raised(library, ran, monkeypatch):
    def broken():
        raise RuntimeError("the copy failed")

    monkeypatch.setattr("metrics_cache.reports.tasks.copy_lookups", broken)
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
        copy_report_lookups.apply(kwargs=DEFAULT)
        fold_rollups.apply(kwargs=DEFAULT)
    assert [entry["task"] for entry in handed()] == [
        refresh_circulation.name, copy_report_lookups.name, fold_rollups.name,
    ]  # fmt: skip
    with pytest.raises(RuntimeError, match="the copy failed"):
        copy_report_lookups.apply(kwargs=DEFAULT, throw=True)
    # The others handed (and the failed one's earlier copy) ran; the list is empty.
    assert [name for name, _ in ran] == ["circulation", "fold"]
    assert handed() == []


def test_a_handed_job_that_fails_stops_none_after_it(library, ran, monkeypatch):
    def broken():
        raise RuntimeError("the copy failed")

    monkeypatch.setattr("metrics_cache.reports.tasks.copy_lookups", broken)
    with run_once(keys.library_jobs(), timeout=60):
        copy_report_lookups.apply(kwargs=DEFAULT)
        refresh_circulation.apply(kwargs=DEFAULT)
    assert fold_rollups.apply(kwargs=DEFAULT, throw=True).get() == "built"
    assert [name for name, _ in ran] == ["circulation", "fold"]
    assert handed() == []


def test_one_written_down_as_the_holder_lets_go_is_still_run(library, ran, monkeypatch):
    """A job that wrote itself down after the holder found the list empty, and found the slot
    still taken, is run: the holder looks at the list again once it let go."""
    run_list = handover._run_list
    late = []

    def then_another_writes_itself_down(*args, **kwargs):
        run_list(*args, **kwargs)
        if not late:
            # Another worker's job: written down, the slot still taken, so it ended.
            late.append(refresh_circulation.apply(kwargs=DEFAULT).get())

    monkeypatch.setattr(handover, "_run_list", then_another_writes_itself_down)
    assert fold_rollups.apply(kwargs=DEFAULT).get() == "built"
    assert late == [handover.HANDED]
    assert [name for name, _ in ran] == ["fold", "circulation"]
    assert handed() == [] and not client().exists(keys.library_jobs())


def test_a_holder_past_its_time_sends_the_rest_as_messages(library, ran, broker, monkeypatch):
    with run_once(keys.library_jobs(), timeout=60):
        circulation = refresh_circulation.apply(kwargs=DEFAULT, routing_key="celery")
        step = fold_rollups.apply(kwargs=DEFAULT, routing_key=BUILD_QUEUE)
    monkeypatch.setattr(handover, "HOLD_SECONDS", -1)
    holder = copy_report_lookups.apply(kwargs=DEFAULT, routing_key="celery")
    assert holder.get() == handover.HANDED, "its own job was last on the list: sent too"
    assert ran == [] and handed() == []
    # Each sent as a copy of the job it is (the bench follows a job through its copies).
    on_celery, on_build = queued(broker, "celery"), queued(broker, BUILD_QUEUE)
    assert [(m["task"], m["parent_id"]) for m in on_celery] == [
        (refresh_circulation.name, circulation.id), (copy_report_lookups.name, holder.id),
    ]  # fmt: skip
    assert [(m["task"], m["parent_id"]) for m in on_build] == [(fold_rollups.name, step.id)]
    assert all(m["kwargs"] == DEFAULT for m in on_celery + on_build)


def test_a_holder_runs_what_was_handed_within_its_time(library, ran, monkeypatch):
    times = iter([0.0, handover.HOLD_SECONDS - 0.1, handover.HOLD_SECONDS + 0.1])
    monkeypatch.setattr(handover, "monotonic", lambda: next(times))
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
        fold_rollups.apply(kwargs=DEFAULT)
    monkeypatch.setattr(
        handover, "_send_the_rest", lambda redis, key: ran.append(("sent", len(handed())))
    )
    copy_report_lookups.apply(kwargs=DEFAULT)
    # Started at 0: the circulation at 19.9 s ran; at 20.1 s the rest was sent.
    assert ran == [("circulation", 1), ("sent", 2)]


def test_jobs_left_by_a_lost_holder_are_sent_to_be_run(library, ran, broker):
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
        # The holder is still there: nothing to send.
        assert handover.left_behind() == []
        assert resend_lost_messages() == 0
    # Its slot's lease ran out (the holder was lost): the sweep sends the job that runs them,
    # on the build queue (a night's backlog on `celery` would hold it up).
    assert handover.left_behind() == ["default"]
    assert resend_lost_messages() == 1
    [message] = queued(broker, BUILD_QUEUE)
    assert message["task"] == handover.RUN_HANDED
    assert queued(broker, "celery") == []
    assert run_handed_jobs.apply(kwargs=DEFAULT).get() == "ran"
    assert ran == [("circulation", 1)] and handed() == []
    assert handover.left_behind() == []


def test_an_unreachable_library_s_handed_jobs_are_skipped_and_struck_off(library, ran):
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
    client().hset(keys.today_loop_status(), mapping={
        "error": "OperationalError: (2003, \"Can't connect\")",
        "last_run_at": timezone.now().isoformat(),
        "last_success_at": (timezone.now() - timedelta(hours=1)).isoformat(),
    })  # fmt: skip
    assert breaker.is_open()
    assert run_handed_jobs.apply(kwargs=DEFAULT).get() == "ran"
    assert ran == [] and handed() == []


def test_a_handed_job_of_a_task_no_longer_known_is_dropped(library, ran, caplog):
    client().rpush(keys.handed_jobs(), json.dumps({
        "id": "x", "task": "metrics_cache.gone", "args": [], "kwargs": DEFAULT, "queue": None,
    }))  # fmt: skip
    assert copy_report_lookups.apply(kwargs=DEFAULT).get() == {}
    assert ran == [("copy", 1)] and handed() == []
    assert "unknown task metrics_cache.gone" in caplog.text
