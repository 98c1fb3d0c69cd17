"""The reports' tasks: the circulation asked again while the rollups' first build runs (at
start-up only), and the lookups copied."""

from __future__ import annotations

import json

import pytest

from metrics_cache.reports.models import LookupCopy
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def queued(broker) -> list[tuple[str, str | None]]:
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    return [(m["headers"]["task"], m["headers"].get("eta")) for m in messages]


def test_at_start_up_the_circulation_waits_for_the_first_build(library, broker):
    with at(2026, 12, 5, 11, 0):
        assert refresh_circulation(until_built=True) == "building"
        [(task, eta)] = queued(broker)
        assert task == "metrics_cache.refresh_circulation" and eta is not None
        assert refresh_circulation() == "building"  # the schedule's runs do not pile up
        assert len(queued(broker)) == 1
        build()
        assert refresh_circulation(until_built=True) == "refreshed"
        assert len(queued(broker)) == 1
    assert LookupCopy.objects.get(kind="open_loans").copied_at is not None


def test_the_lookups_task_copies_every_table(library):
    library.room("LIB1", "Ruang Baca")
    done = copy_report_lookups()
    assert done == dict.fromkeys(
        ["mst_visitor_room", "mst_member_type", "mst_coll_type", "mst_location",
         "member", "item", "biblio"], "",
    )  # fmt: skip
