"""A library's jobs run one at a time: one that finds another of its library's running hands
itself to it and ends; the running one runs it after its own, and a list a lost worker left is
run by a job the sweep sends."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from unittest.mock import ANY

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from config.libraries import Library
from config.services import BUILD_QUEUE, VISIBILITY_TIMEOUT_SECONDS
from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.operations import breaker, handover
from metrics_cache.operations.tasks import resend_lost_messages, run_handed_jobs
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups
from metrics_cache.snapshots.registry import in_group
from metrics_cache.snapshots.tasks import refresh_group
from tests.support.aliases import extra_aliases

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
    monkeypatch.setattr(
        "metrics_cache.snapshots.tasks.refresh.refresh",
        lambda names, force: seen.append((f"snapshots {names} force={force}",
                                          client().exists(keys.library_jobs()))),
    )  # fmt: skip
    return seen


def override_libraries(*libraries: Library):
    return override_settings(LIBRARIES=list(libraries))


def handed() -> list[dict]:
    return [json.loads(entry) for entry in client().lrange(keys.handed_jobs(), 0, -1)]


def queued(broker, queue: str) -> list[dict]:
    """The messages on `queue` (oldest first): task, parent and arguments."""
    found = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        head = message["headers"]
        found.append({"task": head["task"], "parent_id": head["parent_id"], "args": args,
                      "kwargs": kwargs})  # fmt: skip
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
    visitors = [m.name for m in in_group("visitors")]
    assert [name for name, _ in ran] == ["circulation", f"snapshots {visitors} force=True", "copy"]


def test_a_handed_job_runs_with_its_own_arguments(library, ran):
    """The start-up prewarm's refreshes keep what is fresh (force=False): so do they handed."""
    with run_once(keys.library_jobs(), timeout=60):
        refresh_group.apply(args=["books"], kwargs={**DEFAULT, "force": False})
        refresh_circulation.apply(kwargs={**DEFAULT, "until_built": True})
    [books, circulation] = handed()
    assert (books["args"], books["kwargs"]) == (["books"], {**DEFAULT, "force": False})
    assert circulation["kwargs"] == {**DEFAULT, "until_built": True}
    fold_rollups.apply(kwargs=DEFAULT)
    books_metrics = [m.name for m in in_group("books")]
    assert ran == [(f"snapshots {books_metrics} force=False", 1), ("circulation", 1), ("fold", 1)]


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


@pytest.fixture
def failing_copy(ran, monkeypatch) -> None:
    """The copy of the lookup tables raises; the other jobs as `ran` notes them."""

    def broken():
        raise RuntimeError("the copy failed")

    monkeypatch.setattr("metrics_cache.reports.tasks.copy_lookups", broken)


def test_the_holder_s_own_failure_stops_none_of_the_others_and_raises(library, ran, failing_copy):
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


def test_a_handed_job_that_fails_stops_none_after_it(library, ran, failing_copy):
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


def test_a_holder_past_its_time_sends_the_rest_as_messages(
    library, ran, broker, monkeypatch, caplog
):
    with run_once(keys.library_jobs(), timeout=60):
        circulation = refresh_circulation.apply(kwargs=DEFAULT, routing_key="celery")
        step = fold_rollups.apply(kwargs=DEFAULT, routing_key=BUILD_QUEUE)
        books = refresh_group.apply(args=["books"], kwargs={**DEFAULT, "force": False},
                                    routing_key="celery")  # fmt: skip
    monkeypatch.setattr(handover, "HOLD_SECONDS", -1)
    holder = copy_report_lookups.apply(kwargs=DEFAULT, routing_key="celery")
    assert holder.get() == handover.HANDED, "its own job was last on the list: sent too"
    assert ran == [] and handed() == []
    # Each sent as a copy of the job it is (the bench follows a job through its copies), with
    # its arguments, on the queue it came from.
    on_celery, on_build = queued(broker, "celery"), queued(broker, BUILD_QUEUE)
    assert [(m["task"], m["parent_id"], m["args"], m["kwargs"]) for m in on_celery] == [
        (refresh_circulation.name, circulation.id, [], DEFAULT),
        (refresh_group.name, books.id, ["books"], {**DEFAULT, "force": False}),
        (copy_report_lookups.name, holder.id, [], DEFAULT),
    ]  # fmt: skip
    assert [(m["task"], m["parent_id"], m["kwargs"]) for m in on_build] == [
        (fold_rollups.name, step.id, DEFAULT)
    ]
    assert "library default: its other jobs sent as messages of their own" in caplog.messages


def test_a_holder_runs_what_was_handed_within_its_time(library, ran, monkeypatch):
    times = iter([0.0, handover.HOLD_SECONDS, handover.HOLD_SECONDS + 0.1])
    monkeypatch.setattr(handover, "monotonic", lambda: next(times))
    with run_once(keys.library_jobs(), timeout=60):
        refresh_circulation.apply(kwargs=DEFAULT)
        fold_rollups.apply(kwargs=DEFAULT)
    monkeypatch.setattr(
        handover, "_send_the_rest", lambda redis, key: ran.append(("sent", len(handed())))
    )
    copy_report_lookups.apply(kwargs=DEFAULT)
    # Started at 0: the circulation at 20 s ran; at 20.1 s the rest was sent.
    assert ran == [("circulation", 1), ("sent", 2)]


def test_a_job_written_down_twice_runs_once(library, ran):
    """Its message handed to a worker again while it waited on the list (the broker gives a
    lost worker's messages back): the same job, the same entry."""
    with run_once(keys.library_jobs(), timeout=60):
        for _ in range(2):
            refresh_circulation.apply(kwargs=DEFAULT, task_id="again")
    assert [entry["id"] for entry in handed()] == ["again", "again"]
    fold_rollups.apply(kwargs=DEFAULT)
    assert ran == [("circulation", 1), ("fold", 1)] and handed() == []


def test_a_job_written_down_twice_is_sent_once(library, ran, broker, monkeypatch):
    with run_once(keys.library_jobs(), timeout=60):
        for _ in range(2):
            refresh_circulation.apply(kwargs=DEFAULT, task_id="again", routing_key="celery")
    monkeypatch.setattr(handover, "HOLD_SECONDS", -1)
    fold_rollups.apply(kwargs=DEFAULT, routing_key="celery")
    assert [(m["task"], m["parent_id"]) for m in queued(broker, "celery")] == [
        (refresh_circulation.name, "again"), (fold_rollups.name, ANY),
    ]  # fmt: skip
    assert ran == [] and handed() == []


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
    assert "handed job x of unknown task metrics_cache.gone dropped" in caplog.messages


def test_the_sweep_finds_each_library_s_list_left_behind(library, ran, broker, caplog):
    """Two libraries: the second's list left by a lost holder; the first's list empty, then
    held by its running job; only the second is sent the job that runs its list, for itself."""
    first = settings.LIBRARIES[0]
    second = Library("timur", "Perpustakaan Timur", first.database, "Asia/Jayapura", None,
                     alias="library-timur", service_alias="default")  # fmt: skip
    with extra_aliases(**{"library-timur": first.database}), override_libraries(first, second):
        assert keys.handed_jobs(second) != keys.handed_jobs(first)
        client().rpush(keys.handed_jobs(second), b"{}")
        assert handover.left_behind() == ["timur"]
        with run_once(keys.library_jobs(), timeout=60):
            refresh_circulation.apply(kwargs=DEFAULT)
            assert handover.left_behind() == ["timur"]
            assert resend_lost_messages() == 1
        client().delete(keys.handed_jobs(second))
    [message] = queued(broker, BUILD_QUEUE)
    assert (message["task"], message["kwargs"]) == (handover.RUN_HANDED, {"library": "timur"})
    assert "library timur: jobs left by a lost worker, sent to be run" in caplog.messages


def test_a_job_whose_message_comes_back_after_it_ran_is_not_run_again(library, ran, caplog):
    """A lost holder's own message: the broker gives it back after its visibility timeout,
    when the sweep's job has run the list (its entry among them) already."""
    with run_once(keys.library_jobs(), timeout=60):  # the holder, then lost
        refresh_circulation.apply(kwargs=DEFAULT, task_id="lost")
    run_handed_jobs.apply(kwargs=DEFAULT)
    assert ran == [("circulation", 1)]
    # Noted past the broker's visibility timeout, after which it gives the message back.
    assert client().ttl(keys.job_ran("lost")) > VISIBILITY_TIMEOUT_SECONDS
    assert refresh_circulation.apply(kwargs=DEFAULT, task_id="lost").get() == handover.RAN_ALREADY
    assert ran == [("circulation", 1)] and handed() == []
    assert f"job lost of {refresh_circulation.name} ran already: not run again" in caplog.messages
    # Another message of the same job runs.
    refresh_circulation.apply(kwargs=DEFAULT)
    assert ran == [("circulation", 1), ("circulation", 1)]
