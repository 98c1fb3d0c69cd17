"""The network's parts that need no second database: which library a path is for, the slug a
task carries, every library's schedules, the state a library is shown in, and the network's
totals (sums, and ratios from the sums)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from celery import Task
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from config.libraries import Library
from config.library import current, home, serving
from config.library_tasks import LibraryTask
from metrics_cache.network import reports as network_reports
from metrics_cache.network.states import DEGRADED, OK, UNREACHABLE, state
from metrics_cache.operations import schedules
from metrics_cache.reports import formats
from metrics_cache.reports.annual import LABELS
from metrics_cache.serving import prefixes


@pytest.fixture
def two(settings):
    """The deployment's library and a second one, in another zone (no database is opened)."""
    other = Library("timur", "Perpustakaan Timur", {}, "Asia/Jayapura", "direct",
                    alias="library-timur", service_alias="service-timur")  # fmt: skip
    settings.LIBRARIES = [settings.LIBRARIES[0], other]
    return settings.LIBRARIES[0], other


def scope(path: str) -> dict:
    return {"type": "http", "path": path, "root_path": ""}


def test_a_prefixed_path_is_its_library_s_with_the_prefix_as_script_name(two):
    first, other = two
    found = prefixes.resolve(scope("/l/timur/api/visitors/today"))
    assert (found.library, found.path, found.problem) == (other, "/api/visitors/today", "")
    assert found.scope["root_path"] == "/l/timur"
    assert found.scope["path"] == "/l/timur/api/visitors/today", "ASGI's path keeps the prefix"
    assert prefixes.resolve(scope("/l/timur")).path == ""  # the edge redirects it to /l/timur/
    unprefixed = prefixes.resolve(scope("/api/visitors/today"))
    assert (unprefixed.library, unprefixed.path) == (first, "/api/visitors/today")


@pytest.mark.parametrize("path", ["/dash/l/timur/api/x", "/l/timur/api/x"])
def test_mounted_under_a_root_path_with_or_without_it_in_the_path(two, path):
    """A deployment behind a proxy at /dash: servers give the path with the root or without."""
    found = prefixes.resolve({"type": "http", "path": path, "root_path": "/dash"})
    assert (found.library, found.path) == (two[1], "/api/x")
    assert (found.scope["root_path"], found.scope["path"]) == (
        "/dash/l/timur",
        "/dash/l/timur/api/x",
    )
    home_path = prefixes.resolve({"type": "http", "path": "/dash/api/x", "root_path": "/dash"})
    assert (home_path.library, home_path.path) == (two[0], "/api/x")


def test_a_scope_without_a_root_path_has_none(two):
    found = prefixes.resolve({"type": "http", "path": "/l/timur/api/x"})
    assert (found.scope["root_path"], found.path) == ("/l/timur", "/api/x")
    assert prefixes.resolve({"type": "http", "path": "/api/x"}).path == "/api/x"


def test_an_unknown_library_and_unprefixed_paths_without_a_default_are_not_found(two, settings):
    found = prefixes.resolve(scope("/l/barat/api/visitors/today"))
    assert found.library is None and "no library 'barat'" in found.problem
    assert "/api/libraries" in found.problem
    settings.LIBRARIES_UNPREFIXED = False
    found = prefixes.resolve(scope("/api/visitors/today"))
    assert found.library is None and "none named default" in found.problem
    for path in ("/api/libraries", "/network", "/health", "/api/network/today/stream"):
        assert prefixes.resolve(scope(path)).library == two[0], path


def test_a_library_served_has_its_zone_and_mode_and_the_caller_s_comes_back(two):
    first, other = two
    assert current() == home() == first
    with serving(other):
        assert current() == other
        assert timezone.get_current_timezone_name() == "Asia/Jayapura"
    assert current() == first
    assert timezone.get_current_timezone_name() == "Asia/Jakarta"


def test_a_task_carries_the_library_it_was_queued_for_and_runs_there(two, monkeypatch):
    seen, sent = [], []

    @app.task(name="tests.probe")
    def probe(value):
        seen.append((value, current().slug, timezone.get_current_timezone_name()))

    # What Celery's own apply_async is given: the slug beside the task's arguments.
    monkeypatch.setattr(Task, "apply_async", lambda self, args, kwargs, **o: sent.append(kwargs))
    assert isinstance(probe, LibraryTask)
    with serving(two[1]):
        probe.apply_async(args=[1])
    probe.apply_async(args=[1], kwargs={"library": "timur"})
    probe.apply_async(args=[1])
    assert sent == [{"library": "timur"}, {"library": "timur"}, {"library": two[0].slug}]
    probe(2, library="timur")
    probe(3)  # called directly: the caller's library
    probe(4, library="gone")  # a library no longer in the file: skipped
    assert seen == [(2, "timur", "Asia/Jayapura"), (3, two[0].slug, "Asia/Jakarta")]


@pytest.mark.django_db
def test_every_library_has_its_schedules_in_its_zone_spread_over_the_interval(two, settings):
    schedules.sync_schedules()
    schedules.sync_live_schedules()
    mine = PeriodicTask.objects.get(name="snapshots: visitors")
    theirs = PeriodicTask.objects.get(name="snapshots: visitors · timur")
    assert (mine.kwargs, json.loads(theirs.kwargs)) == ("{}", {"library": "timur"})
    assert str(mine.crontab.timezone) == "Asia/Jakarta"
    assert str(theirs.crontab.timezone) == "Asia/Jayapura"
    assert (theirs.crontab.minute, theirs.crontab.hour) == ("5", "0")
    fold = PeriodicTask.objects.get(name="rollups: fold new rows · timur")
    assert json.loads(fold.kwargs) == {"library": "timur"}
    # The second of two libraries runs half an interval after the first.
    due_in = fold.last_run_at + timedelta(milliseconds=schedules.ROLLUPS_FOLD_MS)
    assert abs((due_in - timezone.now()).total_seconds() - 150) < 1
    assert PeriodicTask.objects.get(name="rollups: fold new rows").last_run_at is None
    # Each library's circulation half an interval after its fold, never beside it.
    circulation = PeriodicTask.objects.get(name="reports: circulation · timur")
    assert circulation.last_run_at is None  # half an interval past timur's fold: beat's start
    home = PeriodicTask.objects.get(name="reports: circulation").last_run_at
    due_in = home + timedelta(milliseconds=schedules.ROLLUPS_FOLD_MS)
    assert abs((due_in - timezone.now()).total_seconds() - 150) < 1
    # The fast loop and the exact recount by groups of libraries (today.groups): one here.
    loops = PeriodicTask.objects.filter(name__startswith="today: ")
    assert sorted((p.name, p.task, json.loads(p.kwargs)) for p in loops) == [
        ("today: exact recount · libraries 1 of 1", "metrics_cache.reconcile_today_group",
         {"group": 0, "groups": 1}),
        ("today: fast loop · libraries 1 of 1", "metrics_cache.sync_today_group",
         {"group": 0, "groups": 1}),
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_fast_loop_s_groups_spread_over_the_interval_and_follow_the_libraries(two, settings):
    first, other = two
    settings.LIBRARIES = [first] + [replace(other, slug=f"b-{n}") for n in range(59)]
    before = timezone.now()
    schedules.sync_live_schedules()
    after = timezone.now()
    loops = PeriodicTask.objects.filter(name__startswith="today: fast loop").order_by("name")
    assert [p.name for p in loops] == [f"today: fast loop · libraries {n} of 3" for n in (1, 2, 3)]
    interval = timedelta(milliseconds=settings.VISITOR_SYNC_MIN_INTERVAL_MS)
    # The first group is due at once; the others a third and two thirds of an interval later
    # (beat runs each an interval after its last run).
    at_once, a_third_later, two_thirds_later = (p.last_run_at for p in loops)
    assert at_once is None
    assert abs((two_thirds_later - a_third_later) - interval / 3) < timedelta(milliseconds=1)
    assert before <= a_third_later + interval * 2 / 3 <= after
    assert all(p.expire_seconds == interval.total_seconds() and p.enabled for p in loops)
    # Back to one library: its own fast loop and recount as before, no group left.
    settings.LIBRARIES = [first]
    schedules.sync_live_schedules()
    names = sorted(PeriodicTask.objects.filter(name__startswith="today: ").values_list("name"))
    assert names == [("today: exact recount",), ("today: fast loop",)]
    assert PeriodicTask.objects.get(name="today: fast loop").task == "metrics_cache.sync_today"


def test_a_library_s_state_from_its_fast_loop():
    now = timezone.now()
    recent, old = now.isoformat(), (now - timedelta(minutes=5)).isoformat()
    assert state({"last_success_at": recent, "error": ""}) == OK
    assert state({"last_success_at": recent, "error": "OperationalError"}) == DEGRADED
    assert state({"last_success_at": old, "error": "OperationalError"}) == UNREACHABLE
    assert state({"error": "OperationalError"}) == UNREACHABLE
    assert state({"last_success_at": old, "error": ""}) == DEGRADED
    assert state({}) == DEGRADED


def figures(**values) -> dict:
    months = [{"month": m, "total": m} for m in range(1, 13)]
    base = dict.fromkeys(LABELS, 0) | {"visits_by_month": months, "loans_by_month": months}
    return base | values


def test_the_network_total_sums_counts_and_computes_ratios_from_the_sums():
    rows = [
        figures(visits=300, service_days=100, loans=10, members=10, items=100,
                items_never_borrowed=90, busiest_weekday=1, busiest_hour=9),
        figures(visits=100, service_days=300, loans=90, members=10, items=900,
                items_never_borrowed=None, busiest_weekday=7, busiest_hour=15),
    ]  # fmt: skip
    spread = {"weekday": Counter({1: 5, 3: 9, 7: 9}), "hour": Counter({9: 1, 15: 2})}
    total = network_reports.annual_total(rows, spread)
    assert list(total) == list(LABELS)
    assert (total["visits"], total["service_days"], total["loans"]) == (400, 400, 100)
    assert total["visits_per_service_day"] == 1.0, "400 / 400, not the mean of 3.0 and 0.3"
    assert total["loans_per_member"] == 5.0 and total["turnover"] == 0.1
    assert total["items_never_borrowed"] == 90 and total["share_never_borrowed"] == 9.0
    assert total["visits_by_month"][11] == {"month": 12, "total": 24}
    assert (total["busiest_weekday"], total["busiest_hour"]) == (3, 15), "ties to the earliest"


def test_a_figure_no_library_knows_stays_unknown_and_no_visits_have_no_busiest_time():
    rows = [figures(items_never_borrowed=None), figures(items_never_borrowed=None)]
    spread = {"weekday": Counter({1: 0, 2: 0}), "hour": Counter()}
    total = network_reports.annual_total(rows, spread)
    assert total["items_never_borrowed"] is None and total["share_never_borrowed"] is None
    assert total["visits"] == 0, "a known zero is summed"
    assert (total["busiest_weekday"], total["busiest_hour"]) == (None, None)


def test_the_network_s_tables_have_a_column_per_library_then_the_total():
    annual = {"report": "annual", "year": 2025, "generated_at": "2026-01-01T00:00:00+07:00",
              "libraries": [{"slug": "a", **figures(visits=1)}, {"slug": "b", **figures(visits=2)}],
              "total": figures(visits=3), "missing": []}  # fmt: skip
    names, rows = formats.table(annual)
    assert names == ["key", "label", "a", "b", "total"]
    assert rows[0] == ["visits", "Visits", 1, 2, 3]
    assert formats.file_name(annual, "csv") == "network_annual_2025.csv"
    period = {"from": "2025-01-01", "to": "2025-02-28"}
    visits = {"report": "visits", "by": "month", "period": period,
              "libraries": [{"slug": "a", "data": [{"month": "2025-01", "total": 1},
                                                   {"month": "2025-02", "total": 2}]}],
              "total": {"total": 3, "data": [{"month": "2025-01", "total": 1},
                                             {"month": "2025-02", "total": 2}]}}  # fmt: skip
    assert formats.table(visits) == (
        ["month", "a", "total"],
        [["2025-01", 1, 1], ["2025-02", 2, 2]],
    )
    assert formats.as_csv(visits).decode("utf-8-sig").splitlines()[0] == "month,a,total"
    empty = {**annual, "libraries": [], "total": None}
    assert formats.table(empty) == (["total"], [])


def test_the_network_today_is_the_earliest_of_its_libraries(two):
    first, other = two
    west = replace(other, time_zone="Pacific/Pago_Pago")  # UTC-11: still yesterday, often
    import django.conf

    django.conf.settings.LIBRARIES = [first, west]
    with serving(west):
        theirs = timezone.localdate()
    with serving(first):
        ours = timezone.localdate()
    assert network_reports.earliest_today() == min(theirs, ours)


def test_the_listing_reads_every_library_s_count_and_state_from_redis(two, monkeypatch):
    from django.conf import settings as django_settings

    from metrics_cache.base import keys
    from metrics_cache.base.redis import client
    from metrics_cache.network.states import listing

    first, other = two
    monkeypatch.setitem(
        django_settings.DATABASES,
        other.alias,
        {"ENGINE": "django.db.backends.mysql", "HOST": "10.9.8.7", "NAME": "s"},
    )
    now = timezone.now()
    theirs = now.astimezone(timezone.get_default_timezone()).date()  # Jakarta's date
    with serving(other):
        east = timezone.localdate()  # Jayapura's, two hours ahead
    redis = client()
    redis.set(keys.today_count(first), json.dumps({"total": 12, "date": theirs.isoformat()}))
    redis.set(keys.today_count(other), json.dumps({"total": 3, "date": east.isoformat()}))
    redis.hset(
        keys.today_loop_status(first), mapping={"error": "", "last_success_at": now.isoformat()}
    )
    redis.hset(keys.today_loop_status(other), mapping={"error": "OperationalError: gone"})
    assert listing() == [
        {"slug": first.slug, "name": django_settings.LIBRARY_NAME, "time_zone": "Asia/Jakarta",
         "today": 12, "state": OK},
        {"slug": "timur", "name": "Perpustakaan Timur", "time_zone": "Asia/Jayapura",
         "today": 3, "state": UNREACHABLE},
    ]  # fmt: skip
    # A count of another day is no count today.
    redis.set(keys.today_count(other), json.dumps({"total": 3, "date": "2000-01-01"}))
    assert listing()[1]["today"] is None
