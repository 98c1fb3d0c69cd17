"""Incremental rollups of SLiMS tables: a watermark, short primary-key chunks, folds done once.

Each SLiMS table (visits, loans) is folded into the service's own tables from the rows above a
watermark (the highest primary key folded in). A row is folded on its own date whatever its id,
so imports and late entries count where they belong; id order only tells what is new. The
watermark moves by compare-and-set in the same transaction as the rollup rows it covers: two
folds racing fold each row once, and a crash mid-build resumes where it stopped.

Rows are placed by their date relative to the day of the fold (`placement`): days of the
current month (and later) keep day buckets, so "this month to yesterday" is exact; earlier
months of this year fold into month buckets, earlier years into year buckets. `compact` moves
buckets down as months and years end. Every period the contract asks for starts on a bucket
boundary, so no figure depends on when a row was folded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import connections, models, router, transaction
from django.db.models import Case, F, Max, Q, Sum, When
from django.db.models.constants import OnConflict
from django.utils import timezone

from config.library import library_fingerprint
from metrics_cache.models import RollupState

logger = logging.getLogger(__name__)

GRAIN_DAY, GRAIN_MONTH, GRAIN_YEAR = "D", "M", "Y"
# All-time running totals (one row per key, for "all time" rankings without summing every
# month and year of every key): a source that keeps them adds each row here as well.
GRAIN_ALL, ALL_TIME_BUCKET = "A", date(1, 1, 1)

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
# Key lists per statement when reading existing rollup rows (SQLite's variable limit).
KEYS_PER_STATEMENT = 500


def placement(day: date, today: date) -> tuple[str, date]:
    """(grain, bucket) for a row dated `day`, folded on `today`."""
    if day >= today.replace(day=1):
        return GRAIN_DAY, day
    if day.year == today.year:
        return GRAIN_MONTH, day.replace(day=1)
    return GRAIN_YEAR, date(day.year, 1, 1)


def in_period(since: date | None, until: date) -> Q:
    """Tally rows inside since..until, for a `since` that is a bucket boundary (None, 1 January,
    or the 1st of the current month): day buckets by date, coarser buckets whole."""
    days = Q(grain=GRAIN_DAY, bucket__lte=until)
    coarse = Q(grain__in=(GRAIN_MONTH, GRAIN_YEAR), bucket__lte=until)
    if since is not None:
        days &= Q(bucket__gte=since)
        coarse &= Q(bucket__gte=since)
    return days | coarse


def period_totals(tallies: models.QuerySet, since: date | None, until: date) -> models.QuerySet:
    """(key, total) rows of `tallies` over since..until. All time: the running totals less
    what is dated after `until` (only day buckets hold such rows)."""
    if since is not None:
        in_range = tallies.filter(in_period(since, until))
        return (
            in_range.values("key").annotate(sum=Sum("total")).order_by().values_list("key", "sum")
        )
    later = Q(grain=GRAIN_DAY, bucket__gt=until)
    signed = Case(
        When(later, then=-F("total")), default=F("total"), output_field=models.BigIntegerField()
    )
    rows = tallies.filter(Q(grain=GRAIN_ALL) | later)
    return rows.values("key").annotate(sum=Sum(signed)).order_by().values_list("key", "sum")


def top_totals(totals: models.QuerySet, limit: int) -> dict[str, int]:
    """The keys that can be in a top `limit` once ties are broken (total >= the limit-th
    total), read best first from one ranked query and no further than the cutoff."""
    best: dict[str, int] = {}
    cutoff = 1  # a key whose total is 0 (all its rows dated after the period) has no place
    for key, total in totals.order_by("-sum").iterator(chunk_size=limit * 4):
        if total < cutoff:
            break
        best[key] = total
        if len(best) == limit:
            cutoff = total
    return best


def key_digest(*parts: str | None) -> str:
    """A fixed-width key from collation keys (None, a SQL NULL, stays apart from '')."""
    raw = "\x1f".join("\x00" if part is None else "\x01" + part for part in parts)
    return hashlib.sha1(raw.encode()).hexdigest()


class CollationKey(models.Func):
    """Equal for two strings exactly when the library database's collation compares them equal.

    MariaDB/MySQL: the collation's weight string (case- and accent-insensitive in SLiMS's
    utf8_unicode_ci); trailing spaces are dropped where the collation pads with spaces. SQLite
    (the demo library, NOCASE columns): LOWER, which folds ASCII letters as NOCASE does.
    """

    function = "LOWER"
    output_field = models.TextField()

    def as_mysql(self, compiler, connection, **extra):
        template = (
            "HEX(WEIGHT_STRING(CASE WHEN %(expressions)s = RTRIM(%(expressions)s) "
            "THEN RTRIM(%(expressions)s) ELSE %(expressions)s END))"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


# --- state ------------------------------------------------------------------------------------
def live_state(source: str) -> RollupState | None:
    """The generation snapshots read, if it describes the library database configured now."""
    state = RollupState.objects.filter(source=source, live=True).first()
    if state is not None and state.library != library_fingerprint():
        return None
    return state


def is_ready(source: str) -> bool:
    state = live_state(source)
    return state is not None and state.built_at is not None


def start_generation(source: str, *, highest_id: int, live: bool) -> RollupState:
    """A new, empty generation; the live one when there is none (first build)."""
    with transaction.atomic():
        last = RollupState.objects.filter(source=source).aggregate(g=Max("generation"))["g"]
        return RollupState.objects.create(
            source=source,
            generation=(last or 0) + 1,
            live=live,
            library=library_fingerprint(),
            build_target_id=highest_id,
        )


# --- folding ----------------------------------------------------------------------------------
@dataclass
class Source:
    """One SLiMS table rolled up: how to read its rows and fold a chunk of them."""

    name: str
    model: type[models.Model]
    # Builds the queryset of rows (values_list) for a primary-key range, with its annotations.
    rows: Callable[[], models.QuerySet]
    # Folds a chunk (sorted by id) into the generation's rollup rows, inside the transaction.
    fold: Callable[[int, list[tuple], date], None]
    # Deletes one generation's rollup rows.
    drop: Callable[[int], None]
    # Moves buckets of months/years that have ended into coarser buckets.
    compact: Callable[[int, date], None]

    @property
    def pk(self) -> str:
        return self.model._meta.pk.attname


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


def read_chunk(source: Source, *, after: int, limit: int, upto: int | None) -> list[tuple]:
    rows = source.rows().filter(**{f"{source.pk}__gt": after})
    if upto is not None:
        rows = rows.filter(**{f"{source.pk}__lte": upto})
    return list(rows.order_by(source.pk)[:limit])


def fold_chunk(source: Source, state: RollupState, chunk: list[tuple], today: date) -> bool:
    """Folds `chunk` (rows above state.last_id) and moves the watermark; False if another fold
    moved it first (nothing is written then)."""
    new_last = chunk[-1][0]
    with transaction.atomic():
        moved = RollupState.objects.filter(pk=state.pk, last_id=state.last_id).update(
            last_id=new_last,
            rows_folded=models.F("rows_folded") + len(chunk),
            updated_at=timezone.now(),
        )
        if not moved:
            return False
        source.fold(state.generation, chunk, today)
    state.last_id = new_last
    state.rows_folded += len(chunk)
    return True


def fold(
    source: Source,
    state: RollupState,
    *,
    budget_seconds: float,
    pause_seconds: float = 0.0,
    upto: int | None = None,
    sizer: ChunkSizer | None = None,
) -> FoldResult:
    """Folds rows above the watermark until caught up or out of time: short chunks are read
    (each one statement on SLiMS) and folded together in batches of up to FOLD_BATCH_ROWS, so a
    visitor seen many times in a batch is written once."""
    sizer = sizer or ChunkSizer()
    result = FoldResult()
    deadline = time.monotonic() + budget_seconds
    today = timezone.localdate()
    while True:
        batch: list[tuple] = []
        after, exhausted = state.last_id, False
        while True:
            started = time.perf_counter()
            chunk = read_chunk(source, after=after, limit=sizer.rows, upto=upto)
            elapsed = time.perf_counter() - started
            result.statements_ms.append(round(elapsed * 1000, 2))
            result.longest_statement_ms = max(result.longest_statement_ms, elapsed * 1000)
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


def _record_statement(state: RollupState, result: FoldResult) -> None:
    if result.longest_statement_ms > state.longest_statement_ms:
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
    for old in stale:  # another library's rollups, or a crashed start: never mixed in
        source.drop(old.generation)
        old.delete()
    return start_generation(source.name, highest_id=highest_id(source), live=True)


def compact_live(source: Source, today: date) -> None:
    """Moves ended months and years into coarser buckets, serialised with folds by the same
    watermark row (a no-op update takes its lock)."""
    state = live_state(source.name)
    if state is None:
        return
    with transaction.atomic():
        RollupState.objects.filter(pk=state.pk).update(updated_at=timezone.now())
        source.compact(state.generation, today)


def grouped(keys: Iterable, size: int = KEYS_PER_STATEMENT) -> Iterable[list]:
    batch: list = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- rollup rows shared by every source -----------------------------------------------------
# Rollup rows are written with one INSERT ... ON CONFLICT UPDATE per batch, from plain tuples:
# model instances and the ORM's per-value preparation cost ten times the fold itself
# (profiled: BENCHMARKS.md).
SLOT = ("generation", "grain", "bucket", "key")


@dataclass(frozen=True)
class TallyTable:
    """A tally model: its value columns (total first, then `order` columns that tell which
    row is the latest, then the latest row's details) and how two of its rows merge."""

    model: type[models.Model]
    columns: tuple[str, ...]
    order: int

    def merge(self, into: list, other: list) -> None:
        """Adds `other`'s total into `into`; the details become the later row's."""
        into[0] += other[0]
        if other[1 : 1 + self.order] > into[1 : 1 + self.order]:
            into[1:] = other[1:]


def write_rows(model, columns: tuple[str, ...], unique: tuple[str, ...], rows: list[tuple]):
    """Inserts `rows`, replacing the value columns of rows that exist under `unique`."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in columns]
    adapt = [_adapter(field, connection) for field in fields]
    quote = connection.ops.quote_name
    suffix = connection.ops.on_conflict_suffix_sql(
        fields,
        OnConflict.UPDATE,
        [f.column for f in fields if f.name not in unique],
        [model._meta.get_field(name).column for name in unique],
    )
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) {suffix}"
    )
    params = [tuple(a(v) if a else v for a, v in zip(adapt, row, strict=True)) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _adapter(field, connection):
    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return connection.ops.adapt_datefield_value
    return None


def add_days(model, generation: int, days: dict[date, list[int]]) -> None:
    """Adds per-day counts ([total, first id, last id]) to a VisitDay/LoanDay generation."""
    for batch in grouped(days):
        stored = model.objects.filter(generation=generation, day__in=batch)
        for day, total, first_id, last_id in stored.values_list(
            "day", "total", "first_id", "last_id"
        ):
            new = days[day]
            new[0] += total
            new[1], new[2] = min(new[1], first_id), max(new[2], last_id)
    write_rows(
        model,
        ("generation", "day", "total", "first_id", "last_id"),
        ("generation", "day"),
        [(generation, day, *values) for day, values in days.items()],
    )


def upsert_tallies(table: TallyTable, generation: int, tallies: dict[tuple, list]) -> None:
    """Merges new tallies ({(grain, bucket, key): [values]}) into the stored ones."""
    by_bucket: dict[tuple, list[str]] = {}
    for grain, bucket, key in tallies:
        by_bucket.setdefault((grain, bucket), []).append(key)
    for (grain, bucket), keys in by_bucket.items():
        for batch in grouped(keys):
            stored = table.model.objects.filter(
                generation=generation, grain=grain, bucket=bucket, key__in=batch
            ).values_list("key", *table.columns)
            for key, *values in stored:
                new = tallies[(grain, bucket, key)]
                table.merge(values, new)
                tallies[(grain, bucket, key)] = values
    write_rows(
        table.model,
        (*SLOT, *table.columns),
        SLOT,
        [(generation, *slot, *values) for slot, values in tallies.items()],
    )


def compact_tallies(table: TallyTable, generation: int, today: date) -> int:
    """Moves day buckets of ended months and month buckets of ended years down a grain."""
    ended = Q(grain=GRAIN_DAY, bucket__lt=today.replace(day=1)) | Q(
        grain=GRAIN_MONTH, bucket__lt=date(today.year, 1, 1)
    )
    moving = table.model.objects.filter(Q(generation=generation) & ended)
    merged: dict[tuple, list] = {}
    for bucket, key, *values in moving.values_list("bucket", "key", *table.columns):
        slot = (*placement(bucket, today), key)
        if slot in merged:
            table.merge(merged[slot], values)
        else:
            merged[slot] = values
    if not merged:
        return 0
    moving.delete()
    upsert_tallies(table, generation, merged)
    return len(merged)
