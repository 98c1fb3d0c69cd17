"""The demo library's live check-ins: opening hours, a believable rate, demo mode only."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from demo import live
from demo.schedules import DEMO_CHECKINS, sync_demo_schedule
from demo.tasks import record_checkins
from demo.writer import library_writer
from metrics_cache.today import loop, publishing
from tests.support.library import library_test
from visitors.models import Visit

JAKARTA = ZoneInfo("Asia/Jakarta")
SEEDED_AT = datetime(2026, 11, 25, 10, 0)  # a Wednesday, mid-morning


def moment(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return SEEDED_AT.replace(hour=hour, minute=minute, second=second)


@pytest.mark.parametrize("now", [moment(6, 59, 59), moment(20), moment(23, 30), moment(0, 5)])
def test_nobody_arrives_while_the_library_is_closed(now):
    assert live.arrival_times(last=now - timedelta(hours=2), now=now, rng=random.Random(1)) == []
    assert live.arrival_times(last=None, now=now, rng=random.Random(1)) == []


def test_arrivals_fall_between_the_last_visit_and_now_in_order():
    last, now = moment(9, 58), moment(10, 0)
    times = live.arrival_times(last=last, now=now, rng=random.Random(3))
    assert times and times == sorted(times)
    assert all(last < time <= now for time in times)


def test_a_busy_hour_has_a_believable_number_of_visitors():
    # 10:00-11:00 is the peak: 2 a minute, 120 expected (a Poisson count, sd about 11).
    counts = [
        len(live.arrival_times(last=moment(10), now=moment(11), rng=random.Random(seed)))
        for seed in range(20)
    ]
    assert all(80 <= count <= 160 for count in counts), counts
    quiet = len(live.arrival_times(last=moment(19), now=moment(19, 59), rng=random.Random(0)))
    assert quiet < 40  # the last hour is quiet


@pytest.mark.parametrize("seed", range(30))
def test_while_open_no_minute_passes_without_a_visitor(seed):
    now = moment(19, 30)  # the quietest hour: about one visitor every six minutes
    times = live.arrival_times(last=now - timedelta(seconds=60), now=now, rng=random.Random(seed))
    assert len(times) >= 1


def test_a_start_mid_day_fills_the_day_since_opening_within_the_limit():
    times = live.arrival_times(last=None, now=moment(12), rng=random.Random(5))
    assert moment(7) <= times[0] and times[-1] <= moment(12)
    assert 200 <= len(times) <= live.BACKFILL_LIMIT


# --- against the library database ----------------------------------------------------------------
def seed_demo_library() -> None:
    call_command(
        "seed_demo", "--visitors=2000", "--members=100", "--titles=50", "--items=100",
        "--loans=100", "--years=1", f"--now={SEEDED_AT.isoformat()}", stdout=StringIO(),
    )  # fmt: skip


@library_test[0]
@library_test[1]
def test_check_ins_reach_the_live_count_through_the_writer(scratch_library, settings):
    seed_demo_library()
    seeded_last = Visit.objects.order_by("-checkin_date").first().checkin_date
    seeded_last = seeded_last.astimezone(JAKARTA).replace(tzinfo=None)
    settings.TODAY_COUNT_MODE = "delta"
    settings.VISITOR_SYNC_BUFFER_MS = 0
    now = SEEDED_AT + timedelta(minutes=5)
    with time_machine.travel(now.replace(tzinfo=JAKARTA), tick=False):
        assert loop.tick() == "ok"
        before = publishing.published()["total"]
        with library_writer() as writer:
            written = live.record_arrivals(writer, now=now, rng=random.Random(7))
        assert written >= 1
        assert loop.tick() == "ok"
        assert publishing.published()["total"] == before + written
    newest = Visit.objects.order_by("-visitor_id")[:written]
    local = [v.checkin_date.astimezone(JAKARTA).replace(tzinfo=None) for v in newest]
    assert all(seeded_last < checkin <= now for checkin in local), (seeded_last, local)


@library_test[0]
@library_test[1]
def test_a_library_seed_demo_did_not_create_gets_no_check_ins(library):
    library.visit("2026-11-25 09:00:00")
    with library_writer() as writer:
        assert live.record_arrivals(writer, now=moment(10), rng=random.Random(1)) == 0
    assert Visit.objects.count() == 1


@library_test[0]
@library_test[1]
def test_the_task_writes_only_to_the_embedded_demo_library(scratch_library, settings):
    seed_demo_library()
    visits = Visit.objects.count()
    settings.LIBRARY_IS_EMBEDDED = False  # a configured library, even one seed_demo made
    with time_machine.travel(moment(10, 5).replace(tzinfo=JAKARTA), tick=False):
        assert record_checkins() == 0
        assert Visit.objects.count() == visits
        settings.LIBRARY_IS_EMBEDDED = True
        assert record_checkins() >= 1
    assert Visit.objects.count() > visits


@pytest.mark.django_db
def test_the_schedule_runs_in_demo_mode_only(settings):
    settings.LIBRARY_IS_EMBEDDED = False
    sync_demo_schedule()
    assert not PeriodicTask.objects.filter(name=DEMO_CHECKINS).exists()
    settings.LIBRARY_IS_EMBEDDED = True
    sync_demo_schedule()
    task = PeriodicTask.objects.get(name=DEMO_CHECKINS)
    assert task.enabled and task.task == "demo.record_checkins"
    assert task.interval.every == live.INTERVAL_SECONDS
    settings.LIBRARY_IS_EMBEDDED = False
    sync_demo_schedule()
    assert not PeriodicTask.objects.get(name=DEMO_CHECKINS).enabled
