"""A library whose database is unreachable: its jobs are skipped (its figures stay as they
were) until its fast loop reaches the database again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.operations import breaker
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups, verify_rollups
from metrics_cache.snapshots.tasks import prewarm, refresh_group, refresh_metric

pytestmark = pytest.mark.django_db(databases=["default", "library"])

JOBS = [
    (fold_rollups, ()),
    (verify_rollups, ()),
    (refresh_group, ("visitors",)),
    (refresh_metric, ("weekly",)),
    (copy_report_lookups, ()),
    (refresh_circulation, ()),
]


def loop_saw(*, error: str, success_ago: timedelta | None) -> None:
    status = {"error": error, "last_run_at": timezone.now().isoformat()}
    if success_ago is not None:
        status["last_success_at"] = (timezone.now() - success_ago).isoformat()
    client().hset(keys.today_loop_status(), mapping=status)


@pytest.mark.parametrize(("job", "args"), JOBS, ids=[job.name for job, _ in JOBS])
def test_jobs_of_an_unreachable_library_are_skipped(library, job, args, monkeypatch):
    loop_saw(error='OperationalError: (2003, "Can\'t connect")', success_ago=timedelta(hours=1))
    assert breaker.is_open()
    assert job(*args) == breaker.SKIPPED


def test_a_library_failing_since_a_recent_success_is_still_tried(library):
    loop_saw(error="OperationalError: timeout", success_ago=timedelta(seconds=1))
    assert not breaker.is_open()
    assert fold_rollups() != breaker.SKIPPED


def test_a_library_never_reached_is_left_alone_and_one_answering_is_served(library):
    loop_saw(error="OperationalError: refused", success_ago=None)
    assert breaker.is_open()
    loop_saw(error="", success_ago=timedelta(seconds=1))
    assert not breaker.is_open()
    assert refresh_group("visitors") != breaker.SKIPPED


def test_without_redis_the_job_is_tried(library, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    assert not breaker.is_open()


def test_a_job_called_from_inside_another_runs_at_once(library, monkeypatch):
    """prewarm runs each group's refresh itself: inside its own slot, not queued behind it."""
    ran = []
    monkeypatch.setattr(
        "metrics_cache.snapshots.tasks.refresh.refresh", lambda names, force: ran.append(force)
    )
    prewarm.apply(kwargs={"library": "default"}).get()
    assert ran == [False, False], "both groups refreshed within prewarm's run"


def test_the_weekly_verification_runs_beside_the_library_s_other_jobs(library, monkeypatch):
    """Hours long on a large library: it must not hold up the folds and snapshots, nor wait
    for them."""
    seen = []
    monkeypatch.setattr(
        "metrics_cache.rollups.tasks.verification.verify",
        lambda name: seen.append((name, client().exists(keys.library_jobs()))),
    )
    with run_once(keys.library_jobs(), timeout=60) as mine:
        assert mine
        verify_rollups.apply(kwargs={"library": "default"}).get()
    assert seen and all(held == 1 for _, held in seen), "ran while another job held the slot"
    verify_rollups.apply(kwargs={"library": "default"}).get()
    assert not client().exists(keys.library_jobs()), "and takes no slot of its own"
