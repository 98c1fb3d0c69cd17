"""What a snapshot run leaves for the operator: the record the admin shows (status, when it
was generated and attempted, rows, the error), the prewarm table and the log lines."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from config.library import library_fingerprint
from metrics_cache.snapshots import refresh, store
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.models import SnapshotRecord
from metrics_cache.snapshots.registry import BY_NAME
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
NIGHT = datetime(2026, 11, 25, 0, 5, tzinfo=JAKARTA)
MORNING = datetime(2026, 11, 25, 9, 30, tzinfo=JAKARTA)


def run(name: str, moment: datetime) -> refresh.RunResult:
    with time_machine.travel(moment, tick=False):
        return refresh.compute(BY_NAME[name], RunContext(moment.date()))


def logged(caplog) -> list[tuple[str, str, dict]]:
    fields = ("metric", "rows", "ms", "status", "error")
    return [
        (r.levelname, r.getMessage(), {f: getattr(r, f) for f in fields if hasattr(r, f)})
        for r in caplog.records
        if r.name == "metrics_cache.snapshots.refresh"
    ]


def test_a_good_run_records_when_what_and_how_many_rows(library, caplog):
    library.visit("2026-11-24 10:00:00")
    with caplog.at_level(logging.INFO, "metrics_cache.snapshots"):
        weekly = run("weekly", NIGHT)
        collection = run("collection", NIGHT)
    assert (weekly.metric, weekly.status, weekly.rows, weekly.error) == ("weekly", "ok", 7, "")
    assert (collection.status, collection.rows) == ("ok", 1)  # one object, not a list
    record = SnapshotRecord.objects.get(metric="weekly")
    assert record.status == "ok"
    assert record.generated_at == NIGHT and record.last_attempt_at == NIGHT
    assert record.rows == 7 and record.duration_ms == weekly.duration_ms
    assert record.last_error == ""
    assert record.payload.encode() == store.read("weekly").body
    assert record.library == library_fingerprint()
    assert logged(caplog) == [
        ("INFO", f"snapshot metric=weekly rows=7 ms={weekly.duration_ms} status=ok",
         {"metric": "weekly", "rows": 7, "ms": weekly.duration_ms, "status": "ok"}),
        ("INFO", f"snapshot metric=collection rows=1 ms={collection.duration_ms} status=ok",
         {"metric": "collection", "rows": 1, "ms": collection.duration_ms, "status": "ok"}),
    ]  # fmt: skip


def test_a_failed_run_records_its_error_and_keeps_the_last_good_snapshot(
    library, scratch_library, caplog
):
    SnapshotRecord.objects.create(
        metric="weekly", status="ok", generated_at=NIGHT, last_attempt_at=NIGHT, rows=7,
        duration_ms=12, payload='{"data":[]}', library=library_fingerprint(),
    )  # fmt: skip
    with caplog.at_level(logging.INFO, "metrics_cache.snapshots"):
        result = run("weekly", MORNING)  # the scratch database has no SLiMS tables
    assert (result.metric, result.status, result.rows) == ("weekly", "failed", None)
    assert result.error.startswith(("ProgrammingError: ", "OperationalError: "))
    assert "visitor_count" in result.error
    record = SnapshotRecord.objects.get(metric="weekly")
    assert record.status == "failed"
    assert record.last_attempt_at == MORNING and record.last_error == result.error
    # The last good run's figures stay, for the admin and for a restore.
    assert record.generated_at == NIGHT and record.rows == 7 and record.duration_ms == 12
    assert record.payload == '{"data":[]}'
    ms, error = result.duration_ms, result.error
    assert logged(caplog) == [
        ("WARNING", f"snapshot metric=weekly rows=- ms={ms} status=failed error={error!r}",
         {"metric": "weekly", "ms": ms, "status": "failed", "error": error}),
    ]  # fmt: skip


def test_a_good_run_after_a_failure_clears_the_error(library):
    SnapshotRecord.objects.create(metric="weekly", status="failed", last_error="boom")
    run("weekly", MORNING)
    record = SnapshotRecord.objects.get(metric="weekly")
    assert (record.status, record.last_error, record.generated_at) == ("ok", "", MORNING)


@pytest.mark.parametrize("force", [False, True])
def test_refresh_runs_the_metrics_asked_for_in_the_registrys_order(library, force):
    with time_machine.travel(MORNING, tick=False):
        results = refresh.refresh(["weekly", "yearly"], force=force)
    assert [(r.metric, r.status) for r in results] == [("yearly", "ok"), ("weekly", "ok")]
    assert set(SnapshotRecord.objects.values_list("metric", flat=True)) == {"weekly", "yearly"}


class Stopwatch:
    """The run's clock, injected: each reading 1.5 s after the one before."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self) -> float:
        self.now += 1.5
        return self.now


@pytest.mark.parametrize("fails", [False, True])
def test_the_duration_shown_is_the_runs_in_milliseconds(request, library, monkeypatch, fails):
    if fails:
        request.getfixturevalue("scratch_library")
    monkeypatch.setattr(refresh, "time", Stopwatch())
    result = run("weekly", MORNING)
    assert (result.status, result.duration_ms) == ("failed" if fails else "ok", 1500)
    if not fails:
        assert SnapshotRecord.objects.get(metric="weekly").duration_ms == 1500


def test_a_long_error_is_kept_to_its_first_500_characters(library):
    def failing(ctx, period):
        raise RuntimeError("x" * 2000)

    metric = dataclasses.replace(BY_NAME["weekly"], compute=failing)
    with time_machine.travel(MORNING, tick=False):
        result = refresh.compute(metric, RunContext(MORNING.date()))
    assert len(result.error) == 500 and result.error.startswith("RuntimeError: xx")
    assert SnapshotRecord.objects.get(metric="weekly").last_error == result.error


def test_snapshots_are_stored_as_compact_json_for_every_audience(library):
    library.visit("2026-11-24 10:00:00", member_id="M1", name="Budi Santoso")
    for name in ("weekly", "top_visitors_month"):
        run(name, MORNING)
        for audience in ("full", "masked", "hidden"):
            body = store.read(name, audience).body
            compact = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
            assert body == compact.encode(), (name, audience)
