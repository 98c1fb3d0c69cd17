"""The fold loop (rollups.engine.fold) as an operator sees it: each read on SLiMS timed in
milliseconds (the admin and /health report the longest), no pause unless one is asked for, an
upper id bound kept, a tick out of time folding one chunk and stopping, and a fold that lost
the watermark to another saying so.

The clock is the fold's own (`engine.time`), replaced per test: durations and deadlines are
then exact, not raced against the machine."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from metrics_cache.rollups import engine
from metrics_cache.rollups.models import RollupState
from tests.support.library import library_test
from visitors import rollups as visit_rollups
from visitors.models import VisitDay

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")
SOURCE = visit_rollups.SOURCE


@pytest.fixture
def five_visits(library, monkeypatch):
    monkeypatch.setattr(engine, "CHUNK_MIN_ROWS", 2)
    monkeypatch.setattr(engine, "CHUNK_MAX_ROWS", 2)
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA), tick=False):
        ids = [library.visit(f"2026-11-25 08:0{minute}:00") for minute in range(5)]
        yield ids


def fold_clock(monkeypatch, *, read_seconds=0.0123456, now=None, sleeps=None):
    """The fold's clock: every read takes `read_seconds`; `now` freezes the deadline's clock."""
    ticks = itertools.count(100, read_seconds)
    monkeypatch.setattr(engine, "time", SimpleNamespace(
        perf_counter=lambda: next(ticks),
        monotonic=(lambda: now) if now is not None else time.monotonic,
        sleep=(sleeps.append if sleeps is not None else time.sleep),
    ))  # fmt: skip


def test_each_read_is_timed_in_milliseconds_and_the_longest_kept(five_visits, monkeypatch):
    fold_clock(monkeypatch)
    state = engine.ensure_live(SOURCE)
    result = engine.fold(SOURCE, state, budget_seconds=60, sizer=engine.ChunkSizer(2))
    assert result.rows == 5 and result.caught_up
    assert result.statements_ms == [12.35] * 4, (
        "a probe above the watermark, then three reads of two rows, 12.3456 ms each"
    )
    assert result.longest_statement_ms == pytest.approx(12.3456)
    assert RollupState.objects.get(pk=state.pk).longest_statement_ms == 12.35


def test_no_pause_between_reads_unless_asked(five_visits, monkeypatch):
    sleeps: list[float] = []
    fold_clock(monkeypatch, sleeps=sleeps)
    engine.fold(SOURCE, engine.ensure_live(SOURCE), budget_seconds=60,
                 sizer=engine.ChunkSizer(2))  # fmt: skip
    assert sleeps == [], "a tick folds without sleeping"
    state = engine.start_generation(SOURCE.name, highest_id=five_visits[-1], live=False)
    engine.fold(SOURCE, state, budget_seconds=60, pause_seconds=0.01,
                 sizer=engine.ChunkSizer(2))  # fmt: skip
    assert sleeps and set(sleeps) == {0.01}, "a build pauses between reads, as asked"


def test_rows_above_the_upper_bound_are_left_for_later(five_visits, monkeypatch):
    fold_clock(monkeypatch)
    state = engine.ensure_live(SOURCE)
    result = engine.fold(SOURCE, state, budget_seconds=60, upto=five_visits[2],
                          sizer=engine.ChunkSizer(2))  # fmt: skip
    assert (result.rows, state.last_id, state.rows_folded) == (3, five_visits[2], 3)
    # Nothing left below the bound: the probe alone, no read of the rows above it.
    again = engine.fold(SOURCE, state, budget_seconds=60, upto=five_visits[2])
    assert (again.rows, again.caught_up, len(again.statements_ms)) == (0, True, 1)


def test_a_fold_with_no_time_left_folds_one_chunk_and_stops(five_visits, monkeypatch):
    fold_clock(monkeypatch, now=1000.0)  # the deadline is now: no time left after a read
    state = engine.ensure_live(SOURCE)
    result = engine.fold(SOURCE, state, budget_seconds=0, sizer=engine.ChunkSizer(2))
    assert (result.rows, result.chunks, result.caught_up) == (2, 1, False)
    assert state.last_id == five_visits[1]


def test_a_fold_that_lost_the_watermark_says_so_and_rereads_it(five_visits, monkeypatch):
    fold_clock(monkeypatch)
    state = engine.ensure_live(SOURCE)
    rival = RollupState.objects.get(pk=state.pk)  # read before the first fold commits
    first = engine.fold(SOURCE, state, budget_seconds=60)
    assert (first.rows, first.raced) == (5, False)
    second = engine.fold(SOURCE, rival, budget_seconds=60)
    assert (second.rows, second.raced) == (0, True)
    assert rival.last_id == state.last_id == five_visits[-1], "the rival re-read the watermark"


def test_every_batch_is_counted(five_visits, monkeypatch):
    fold_clock(monkeypatch)
    monkeypatch.setattr(engine, "FOLD_BATCH_ROWS", 2)  # a batch per read here
    state = engine.ensure_live(SOURCE)
    result = engine.fold(SOURCE, state, budget_seconds=60, sizer=engine.ChunkSizer(2))
    assert (result.rows, result.chunks, state.rows_folded) == (5, 3, 5)


def test_a_generation_is_marked_built_once_and_logged_once(five_visits, monkeypatch, caplog):
    fold_clock(monkeypatch)
    state = engine.ensure_live(SOURCE)
    with caplog.at_level("INFO", logger=engine.__name__):
        engine.fold(SOURCE, state, budget_seconds=60)
        built_at = RollupState.objects.get(pk=state.pk).built_at
        engine.fold(SOURCE, state, budget_seconds=60)  # caught up again: nothing new
    assert built_at is not None
    assert RollupState.objects.get(pk=state.pk).built_at == built_at, "built once"
    built = [record for record in caplog.records if getattr(record, "status", "") == "built"]
    assert [record.getMessage() for record in built] == [
        f"rollup source=visits generation={state.generation} built rows=5"
    ]
    assert (built[0].source, built[0].rows) == ("visits", 5)


def test_a_fold_stamps_the_watermark_row_with_its_time(five_visits, monkeypatch):
    fold_clock(monkeypatch)
    state = engine.ensure_live(SOURCE)
    later = datetime(2026, 11, 25, 11, 30, tzinfo=JAKARTA)
    with time_machine.travel(later, tick=False):
        engine.fold(SOURCE, state, budget_seconds=60)
    assert RollupState.objects.get(pk=state.pk).updated_at == later  # the admin shows it


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_another_librarys_rollups_are_dropped_not_kept_beside(five_visits, monkeypatch, settings):
    fold_clock(monkeypatch)
    first = engine.ensure_live(SOURCE)
    engine.fold(SOURCE, first, budget_seconds=60)
    assert VisitDay.objects.filter(generation=first.generation).exists()
    library = settings.DATABASES["library"]
    settings.DATABASES = {**settings.DATABASES, "library": {**library, "NAME": "slims_cabang"}}
    second = engine.ensure_live(SOURCE)  # the service now points at another library
    assert second.pk != first.pk and second.library != first.library
    assert not RollupState.objects.filter(pk=first.pk).exists()
    assert not VisitDay.objects.filter(generation=first.generation).exists()
