"""The rollup engine: a watermark, short primary-key chunks, folds done once.

Each SLiMS table (visits, loans) is folded into the service's own tables from the rows above a
watermark (the highest primary key folded in). A row is folded on its own date whatever its id,
so imports and late entries count where they belong; id order only tells what is new. The
watermark moves by compare-and-set in the same transaction as the rollup rows it covers: two
folds racing fold each row once, and a crash mid-build resumes where it stopped. How a row
counts in its buckets is metrics_cache.rollups.tallies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import connections, models, router, transaction
from django.db.models import Max
from django.utils import timezone

from config.library import library_fingerprint, own_tables
from metrics_cache.rollups.models import RollupState
from metrics_cache.rollups.tallies import TallyTable, compact_tallies

logger = logging.getLogger(__name__)


# MyISAM holds a table's read lock for the whole statement: a chunk is sized so one read takes
# about this long (measured on every chunk, BENCHMARKS.md), well under the 100 ms the circulation
# desk's writes can wait.
CHUNK_TARGET_SECONDS = 0.05
CHUNK_FIRST_ROWS = 5_000
CHUNK_MIN_ROWS, CHUNK_MAX_ROWS = 500, 100_000
# Rows folded (and written to the rollups) together: many chunks' worth, so a visitor who comes
# back within the batch costs one rollup write, not one per visit.
FOLD_BATCH_ROWS = 50_000
# Between two chunks of a first build or a verification: SLiMS's own writes get the table.
BUILD_PAUSE_SECONDS = 0.02


# The shape of the rollup rows every source writes. Raised when a fold writes new tables or
# columns: the live generation of an older shape is dropped and rebuilt (snapshots scan SLiMS
# meanwhile, as on a first install).
FOLD_VERSION = 3


# --- state ------------------------------------------------------------------------------------
# The live generation's read, as the ORM writes it, built once per database vendor: it runs in
# every library's tick and a few dozen times in a library's nightly jobs, where building it
# again each time cost three times its run (BENCHMARKS.md).
_LIVE_READ: dict[str, tuple[str, tuple]] = {}
# Where the source's name goes among the read's parameters (no source is named so).
_SOURCE = "\x00source"


def _live_read(alias: str) -> tuple[str, tuple]:
    # One engine holds every library's own tables (DATABASE_URL's): keyed by it all the same.
    vendor = connections[alias].vendor  # pragma: no mutate
    if vendor not in _LIVE_READ:
        query = RollupState.objects.filter(source=_SOURCE, live=True)
        # The first (live_state reads one row whatever the limit).
        first = query.order_by(*RollupState._meta.ordering)[:1]  # pragma: no mutate
        _LIVE_READ[vendor] = first.query.get_compiler(using=alias).as_sql()
    return _LIVE_READ[vendor]


def live_state(source: str) -> RollupState | None:
    """The generation snapshots read, if it describes the library database configured now."""
    sql, params = _live_read(router.db_for_read(RollupState))
    # The source's name in its place (the read's one parameter on SQLite and MariaDB).
    arguments = [source if param == _SOURCE else param for param in params]  # pragma: no mutate
    state = next(iter(RollupState.objects.raw(sql, arguments)), None)
    if state is not None and (
        state.library != library_fingerprint() or state.fold_version != FOLD_VERSION
    ):
        return None
    return state


def start_generation(source: str, *, highest_id: int, live: bool) -> RollupState:
    """A new, empty generation; the live one when there is none (first build)."""
    with transaction.atomic(using=own_tables()):
        last = RollupState.objects.filter(source=source).aggregate(g=Max("generation"))["g"]
        return RollupState.objects.create(
            source=source,
            generation=(last or 0) + 1,
            live=live,
            library=library_fingerprint(),
            fold_version=FOLD_VERSION,
            build_target_id=highest_id,
        )


# --- folding ----------------------------------------------------------------------------------
@dataclass
class Source:
    """One SLiMS table rolled up: how to read its rows, fold a chunk of them, and where the
    folded rows go (a DayRollup model and a TallyRollup model, metrics_cache.rollups.models)."""

    name: str
    model: type[models.Model]
    # Builds the queryset of rows (values_list) for a primary-key range, with its annotations.
    rows: Callable[[], models.QuerySet]
    # Folds a chunk (sorted by id) into the generation's rollup rows, inside the transaction;
    # returns the earliest date among the rows.
    fold: Callable[[int, list[tuple], date], date]
    days: type[models.Model]
    tallies: TallyTable
    # Further per-day tables of the source (the reports' breakdowns), dropped with the rest.
    counts: tuple[type[models.Model], ...] = ()

    @property
    def pk(self) -> str:
        return self.model._meta.pk.attname

    def drop(self, generation: int) -> None:
        """Deletes one generation's rollup rows."""
        self.days.objects.filter(generation=generation).delete()
        self.tallies.model.objects.filter(generation=generation).delete()
        for model in self.counts:
            model.objects.filter(generation=generation).delete()

    def compact(self, generation: int, today: date) -> None:
        """Moves buckets of months that have ended into their years' buckets."""
        compact_tallies(self.tallies, generation, today)


@dataclass
class FoldResult:
    rows: int = 0
    chunks: int = 0
    caught_up: bool = False
    raced: bool = False
    longest_statement_ms: float = 0.0
    statements_ms: list[float] = field(default_factory=list)


class ChunkSizer:
    """Sizes the next chunk from the last one's statement time (CHUNK_TARGET_SECONDS)."""

    def __init__(self, rows: int | None = None):
        self.rows = rows or CHUNK_FIRST_ROWS

    def update(self, rows_read: int, seconds: float) -> None:
        if rows_read < self.rows or seconds <= 0:
            return
        scaled = int(self.rows * CHUNK_TARGET_SECONDS / seconds)
        # Grow gently (a cold cache makes the first reads slow), shrink at once.
        self.rows = max(CHUNK_MIN_ROWS, min(CHUNK_MAX_ROWS, scaled, self.rows * 2))


def _above(rows: models.QuerySet, source: Source, after: int, upto: int | None):
    rows = rows.filter(**{f"{source.pk}__gt": after})
    return rows if upto is None else rows.filter(**{f"{source.pk}__lte": upto})


def read_chunk(source: Source, *, after: int, limit: int, upto: int | None) -> list[tuple]:
    return list(_above(source.rows(), source, after, upto).order_by(source.pk)[:limit])


def any_above(source: Source, *, after: int, upto: int | None) -> bool:
    """Whether a row lies above the watermark: one primary-key probe, much cheaper to build and
    run than a chunk's read with its annotations (most of the fast loop's ticks find none)."""
    return _above(source.model.objects.all(), source, after, upto).exists()


def fold_chunk(source: Source, state: RollupState, chunk: list[tuple], today: date) -> bool:
    """Folds `chunk` (rows above state.last_id) and moves the watermark; False if another fold
    moved it first (nothing is written then)."""
    new_last = chunk[-1][0]
    with transaction.atomic(using=own_tables()):
        moved = RollupState.objects.filter(pk=state.pk, last_id=state.last_id).update(
            last_id=new_last,
            rows_folded=models.F("rows_folded") + len(chunk),
            updated_at=timezone.now(),
        )
        if not moved:
            return False
        if source.fold(state.generation, chunk, today) < today:
            bump_past_revision(state)
    state.last_id = new_last
    state.rows_folded += len(chunk)
    return True


def bump_past_revision(state: RollupState) -> None:
    """Records that a closed day's figures changed (inside the caller's transaction)."""
    RollupState.objects.filter(pk=state.pk).update(past_revision=models.F("past_revision") + 1)


def fold(
    source: Source,
    state: RollupState,
    *,
    budget_seconds: float,
    pause_seconds: float = 0.0,
    upto: int | None = None,
    sizer: ChunkSizer | None = None,
    highest: int | None = None,
) -> FoldResult:
    """Folds rows above the watermark until caught up or out of time: short chunks are read
    (each one statement on SLiMS) and folded together in batches of up to FOLD_BATCH_ROWS, so a
    visitor seen many times in a batch is written once. `highest`: the source's highest id,
    probed by the caller a moment before (no statement here to ask whether any row is above)."""
    sizer = sizer or ChunkSizer()
    result = FoldResult()
    deadline = time.monotonic() + budget_seconds
    today = timezone.localdate()
    if highest is not None and upto is None:
        result.caught_up = state.last_id >= highest
    else:
        started = time.perf_counter()
        result.caught_up = not any_above(source, after=state.last_id, upto=upto)
        _timed(result, time.perf_counter() - started)  # a statement on SLiMS like any read
    while not result.caught_up:
        batch: list[tuple] = []
        after, exhausted = state.last_id, False
        while True:
            started = time.perf_counter()
            chunk = read_chunk(source, after=after, limit=sizer.rows, upto=upto)
            elapsed = time.perf_counter() - started
            _timed(result, elapsed)
            batch += chunk
            if len(chunk) < sizer.rows:
                exhausted = True
                break
            after = chunk[-1][0]
            sizer.update(len(chunk), elapsed)
            if len(batch) >= FOLD_BATCH_ROWS or time.monotonic() >= deadline:
                break
            if pause_seconds:
                time.sleep(pause_seconds)
        if batch:
            if not fold_chunk(source, state, batch, today):
                result.raced = True
                state.refresh_from_db()
                break
            result.rows += len(batch)
            result.chunks += 1
        if exhausted:
            result.caught_up = True
            break
        if time.monotonic() >= deadline:
            break
        if pause_seconds:
            time.sleep(pause_seconds)
    _record_statement(state, result)
    if result.caught_up and state.built_at is None and state.last_id >= state.build_target_id:
        state.built_at = timezone.now()
        RollupState.objects.filter(pk=state.pk).update(built_at=state.built_at)
        logger.info(
            "rollup source=%s generation=%d built rows=%d", source.name, state.generation,
            state.rows_folded,
            extra={"source": source.name, "rows": state.rows_folded, "status": "built"},
        )  # fmt: skip
    return result


def _timed(result: FoldResult, seconds: float) -> None:
    result.statements_ms.append(round(seconds * 1000, 2))
    result.longest_statement_ms = max(result.longest_statement_ms, seconds * 1000)


def _record_statement(state: RollupState, result: FoldResult) -> None:
    # `>=` writes the same value again when they are equal.
    if result.longest_statement_ms > state.longest_statement_ms:  # pragma: no mutate
        state.longest_statement_ms = round(result.longest_statement_ms, 2)
        RollupState.objects.filter(pk=state.pk).update(
            longest_statement_ms=state.longest_statement_ms
        )


def highest_id(source: Source) -> int:
    return source.model.objects.aggregate(high=Max(source.pk))["high"] or 0


def ensure_live(source: Source) -> RollupState:
    """The live generation, started (empty, building) when there is none for this library."""
    state = live_state(source.name)
    if state is not None:
        return state
    stale = list(RollupState.objects.filter(source=source.name))
    for old in stale:  # another library's, an older release's, a crashed start
        source.drop(old.generation)
        old.delete()
    return start_generation(source.name, highest_id=highest_id(source), live=True)


def compact_live(source: Source, today: date) -> None:
    """Moves ended months and years into coarser buckets, serialised with folds by the same
    watermark row (a no-op update takes its lock)."""
    state = live_state(source.name)
    if state is None:
        return
    with transaction.atomic(using=own_tables()):
        RollupState.objects.filter(pk=state.pk).update(updated_at=timezone.now())
        source.compact(state.generation, today)
