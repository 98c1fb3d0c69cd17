"""The rollup jobs: the first build in time-boxed steps, the nightly catch-up that reads only the
new rows (or leaves the run to scan), and the build's state as /health reports it.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from metrics_cache.rollups import engine, jobs
from metrics_cache.snapshots.context import RunContext
from tests.support.library import library_test
from tests.support.rollups import (
    ScanContext,
    a_library,
    assert_rollups_match_a_full_recount,
    at,
    build,
    every_metric,
)
from visitors import rollups as visit_rollups

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def test_nightly_run_reads_only_the_new_rows(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    library.visit("2026-11-25 18:00:00", member_id="M2")
    library.loan("T000001", "M2", "2026-11-25")
    with at(2026, 11, 26, 0, 5):
        assert jobs.catch_up("visits").rows == 1
        assert jobs.catch_up("loans").rows == 1
        assert_rollups_match_a_full_recount(date(2026, 11, 26))


def test_a_nightly_run_that_cannot_fold_everything_in_time_scans_instead(
    library, small_chunks, monkeypatch
):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()
    for n in range(20):
        library.visit(f"2026-11-{10 + n % 10} 10:00:00", name=f"Tamu {n}")
    monkeypatch.setattr(jobs, "CATCH_UP_SECONDS", 0)
    with at(2026, 11, 26, 0, 5):
        ctx = RunContext(date(2026, 11, 26))
        assert not ctx.from_rollups("visits")
        assert every_metric(ctx) == every_metric(ScanContext(date(2026, 11, 26)))


def test_a_build_step_that_runs_out_of_time_says_the_build_goes_on(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        assert jobs.build_step(budget_seconds=0) is False
        steps = 1
        while not jobs.build_step(budget_seconds=0):
            steps += 1
        assert steps > 1
        assert {s["state"] for s in jobs.status().values()} == {"ready"}
        assert_rollups_match_a_full_recount(date(2026, 11, 25))


def test_health_shows_a_first_build_in_progress(library, small_chunks):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        engine.fold(
            visit_rollups.SOURCE, engine.ensure_live(visit_rollups.SOURCE), budget_seconds=0
        )
        body = Client().get("/health").json()
        assert body["checks"]["rollups"]["visits"]["state"] == "building"
        assert 0 < body["checks"]["rollups"]["visits"]["progress"] < 1
        assert body["checks"]["rollups"]["loans"]["state"] == "not started"
        build()
        body = Client().get("/health").json()
        assert body["checks"]["rollups"]["visits"]["state"] == "ready"
        assert body["checks"]["rollups"]["visits"]["progress"] == 1.0
        visits = body["checks"]["rollups"]["visits"]
        # a_library's seven visits, ids 1 to 7, all folded.
        assert (visits["watermark"], visits["rows_folded"]) == (7, 7)
        assert visits["longest_statement_ms"] >= 0


def test_health_before_any_build_reports_both_sources_not_started(library, client):
    rollups_status = client.get("/health").json()["checks"]["rollups"]
    assert rollups_status == {
        "visits": {"state": "not started", "progress": 0.0},
        "loans": {"state": "not started", "progress": 0.0},
    }


def test_until_built_snapshots_are_computed_by_scanning(library):
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        ctx = RunContext(date(2026, 11, 25))
        assert not ctx.from_rollups("visits")
        assert every_metric(ctx) == every_metric(ScanContext(date(2026, 11, 25)))
