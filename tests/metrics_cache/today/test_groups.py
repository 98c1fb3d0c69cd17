"""The fast loop of several libraries by groups: every library in one group, each group's ticks
run one library after another in that library, and a library whose last tick failed ticked by
a task of its own, so it holds up no other."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from django.db import connections
from django.utils import timezone

from config.libraries import Library
from config.library import current, home
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today import groups
from metrics_cache.today.publishing import published
from metrics_cache.today.tasks import sync_today, sync_today_group


def own_databases(settings) -> None:
    """Each made-up library its own database (its keys are named after it); none is opened."""
    settings.DATABASES = {**settings.DATABASES, **{
        lib.alias: {"ENGINE": "django.db.backends.mysql", "NAME": lib.slug}
        for lib in settings.LIBRARIES[1:]
    }}  # fmt: skip


def libraries(count: int) -> list[Library]:
    first = home()
    return [first] + [
        replace(
            first,
            slug=f"lib-{n}",
            alias=f"library-lib-{n}",
            service_alias=f"service-lib-{n}",
            time_zone="Asia/Jayapura",
        )
        for n in range(1, count)
    ]


@pytest.mark.parametrize("count", [1, 2, 25, 26, 60, 503])
def test_every_library_is_in_exactly_one_group_of_at_most_the_group_size(settings, count):
    settings.LIBRARIES = libraries(count)
    total = groups.group_count(count)
    dealt = [groups.members(group, total) for group in range(total)]
    assert sorted(lib.slug for group in dealt for lib in group) == sorted(
        lib.slug for lib in settings.LIBRARIES
    )
    assert all(0 < len(group) <= groups.GROUP_SIZE for group in dealt)
    # No more groups than needed: one fewer could not hold them.
    assert (total - 1) * groups.GROUP_SIZE < count


def test_a_group_runs_each_library_in_its_own_library_and_sends_a_failing_one_alone(
    settings, broker
):
    settings.LIBRARIES = libraries(4)
    own_databases(settings)
    failing = settings.LIBRARIES[2]
    client().hset(keys.today_loop_status(failing), mapping={"failures": 2, "error": "refused"})
    client().hset(keys.today_loop_status(settings.LIBRARIES[1]), mapping={"failures": 0})
    seen = []

    def step() -> str:
        seen.append((current().slug, timezone.get_current_timezone_name()))
        return "ok"

    outcomes = groups.run(sync_today, step, 0, 1, expires=5)
    assert outcomes == {"ok": 3, groups.ALONE: 1}
    assert seen == [("default", "Asia/Jakarta"), ("lib-1", "Asia/Jayapura"),
                    ("lib-3", "Asia/Jayapura")]  # fmt: skip
    assert current() == home()
    # The failing library's tick, on its own, on the live queue, expiring within the interval.
    (raw,) = broker.lrange("live", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "metrics_cache.sync_today"
    assert message["headers"]["expires"] is not None
    body = json.loads(base64.b64decode(message["body"]))
    assert body[1] == {"library": "lib-2"}


@pytest.mark.django_db(databases=["default", "library"])
def test_a_group_s_task_ticks_its_libraries_for_real(library, settings):
    settings.LIBRARIES = [home()]
    library.visit(timezone.localtime().replace(tzinfo=None))
    assert sync_today_group(group=0, groups=1) == {"ok": 1}
    assert published()["total"] == 1


def test_a_later_group_runs_its_own_libraries_and_counts_each_sent_alone(settings, broker):
    settings.LIBRARIES = libraries(4)
    own_databases(settings)
    for library in settings.LIBRARIES[1::2]:
        client().hset(keys.today_loop_status(library), mapping={"failures": 1})
    seen = []
    outcomes = groups.run(sync_today, lambda: seen.append(current().slug) or "ok", 1, 2, 5)
    assert (seen, outcomes) == ([], {groups.ALONE: 2})
    assert len(broker.lrange("live", 0, -1)) == 2
    outcomes = groups.run(sync_today, lambda: seen.append(current().slug) or "ok", 0, 2, 5)
    assert (seen, outcomes) == (["default", "lib-2"], {"ok": 2})


@pytest.mark.django_db(databases=["default", "library"], transaction=True)
def test_each_library_s_connections_are_closed_before_the_next_one_s_tick(settings):
    """A group's libraries often share a database server: one connection at a time to it."""
    settings.LIBRARIES = libraries(3)
    own_databases(settings)
    closed_at_start = []

    def step() -> str:
        closed_at_start.append(connections["library"].connection is None)
        connections["library"].ensure_connection()
        return "ok"

    assert groups.run(sync_today, step, 0, 1, expires=5) == {"ok": 3}
    assert closed_at_start[1:] == [True, True]
    assert connections["library"].connection is None


def test_without_redis_every_library_of_the_group_is_ticked(settings):
    settings.LIBRARIES = libraries(3)
    own_databases(settings)
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    seen = []
    outcomes = groups.run(sync_today, lambda: seen.append(current().slug) or "error", 0, 1, 5)
    assert seen == ["default", "lib-1", "lib-2"] and outcomes == {"error": 3}
