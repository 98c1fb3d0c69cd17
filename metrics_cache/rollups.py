"""Incremental rollups of SLiMS tables: a watermark, short primary-key chunks, folds done once.

Each SLiMS table (visits, loans) is folded into the service's own tables from the rows above a
watermark (the highest primary key folded in). A row is folded on its own date whatever its id,
so imports and late entries count where they belong; id order only tells what is new. The
watermark moves by compare-and-set in the same transaction as the rollup rows it covers: two
folds racing fold each row once, and a crash mid-build resumes where it stopped.

Every row adds to its year's bucket (and, for loans, to an all-time bucket); a row dated in the
month of the fold or later also keeps a day bucket, which carries its details (the latest
visit's name) while the year bucket carries only its count. "This month to yesterday" is the
day buckets in range; "this year to yesterday" and "all time to yesterday" are the year (or
all-time) buckets less the day buckets dated after yesterday, which hold every row dated today
or later. When a month ends, `compact` hands its day buckets' details to their year buckets
and drops them. No figure depends on when a row was folded.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import connections, models, router, transaction
from django.db.models import Max, Q, Sum
from django.db.models.constants import OnConflict
from django.utils import timezone

from config.library import library_fingerprint
from metrics_cache.models import RollupState

logger = logging.getLogger(__name__)

GRAIN_DAY, GRAIN_MONTH, GRAIN_YEAR, GRAIN_ALL = "D", "M", "Y", "A"
ALL_TIME_BUCKET = date(1, 1, 1)


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


def year_start(day: date) -> date:
    return date(day.year, 1, 1)


def keeps_day(day: date, today: date) -> bool:
    """True when a row dated `day`, folded on `today`, also keeps a day bucket."""
    return day >= today.replace(day=1)


def _is_year_to_date(since: date) -> bool:
    return since.month == 1 and since.day == 1


def _whole_and_later(since: date | None, until: date) -> tuple[Q, Q]:
    """The running-total bucket that holds since..until and whatever is dated after `until`
    in it, for `since` None (all time), 1 January or the 1st of a month (the contract's
    periods); rows dated after `until` are all in day buckets."""
    if since is None:
        # The bucket named too, so the ranked index's whole prefix is an equality and walks
        # best first (without it, SQLite sorted every title: 102 ms at 5 M visits).
        return Q(grain=GRAIN_ALL, bucket=ALL_TIME_BUCKET), Q(grain=GRAIN_DAY, bucket__gt=until)
    if _is_year_to_date(since):
        whole, end = Q(grain=GRAIN_YEAR, bucket=since), since.replace(year=since.year + 1)
    else:
        whole, end = Q(grain=GRAIN_MONTH, bucket=since), next_month(since)
    return whole, Q(grain=GRAIN_DAY, bucket__gt=until, bucket__lt=end)


def top_totals(
    tallies: models.QuerySet,
    since: date | None,
    until: date,
    limit: int,
    *,
    keep: Callable[[list[str]], set[str]] | None = None,
) -> dict[str, int]:
    """{key: total over since..until} for the keys that can be in a top `limit` once ties are
    broken (total >= the limit-th total). The running totals are read best first through
    their index and no further than the cutoff; `keep` drops keys that take no place (a
    title that is gone), a batch at a time."""
    whole, later = _whole_and_later(since, until)
    after = dict(
        tallies.filter(later).values("key").annotate(sum=Sum("total")).values_list("key", "sum")
    )
    ranked = tallies.filter(whole).order_by("-total").values_list("key", "total")
    best: dict[str, int] = {}
    smallest: list[int] = []  # a min-heap of the `limit` largest totals kept
    pending: list[tuple[str, int]] = []

    def settle() -> None:
        kept = keep([key for key, _ in pending]) if keep else None
        for key, total in pending:
            if kept is None or key in kept:
                best[key] = total
                heapq.heappush(smallest, total)
                if len(smallest) > limit:
                    heapq.heappop(smallest)
        pending.clear()

    for key, total in ranked.iterator(chunk_size=max(100, limit * 4)):
        # A total less what is dated later never exceeds the running total: stop at the cutoff.
        if len(smallest) == limit and total < smallest[0]:
            break
        if (total := total - after.get(key, 0)) > 0:
            pending.append((key, total))
        if not keep or len(pending) >= KEYS_PER_STATEMENT:
            settle()
    settle()
    cutoff = smallest[0] if len(smallest) == limit else 1
    return {key: total for key, total in best.items() if total >= cutoff}


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def latest_details(
    table: TallyTable, tallies: models.QuerySet, keys, since: date, until: date
) -> dict[str, list]:
    """{key: the values of its latest row in since..until} for `keys`: from the day buckets in
    range and, for a year, the year bucket (whose details come only from rows without a day
    bucket). Each kind of bucket is read on its own, by equality on every column of the unique
    index: the day buckets by the days that have one (a range of days made SQLite read every
    row of the month for each batch of keys: 40 ms a batch at 5 M visits)."""
    days = (
        tallies.filter(grain=GRAIN_DAY, bucket__gte=since, bucket__lte=until)
        .order_by()
        .values_list("bucket", flat=True)
        .distinct()
    )
    parts = [Q(grain=GRAIN_DAY, bucket__in=list(days))]
    if _is_year_to_date(since):
        parts.append(Q(grain=GRAIN_YEAR, bucket=since))
    latest: dict[str, list] = {}
    for part in parts:
        described = tallies.filter(part, **{f"{table.columns[1]}__isnull": False})
        for batch in grouped(keys):
            rows = described.filter(key__in=batch).values_list("key", *table.columns)
            for key, *values in rows:
                if key in latest:
                    table.merge(latest[key], [0, *values[1:]])
                else:
                    latest[key] = values
    return latest


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
    row is the latest, then the latest row's details; all but total None in a row that only
    counts) and how two of its rows merge."""

    model: type[models.Model]
    columns: tuple[str, ...]
    order: int

    def counting_only(self, values: list) -> list:
        return [values[0]] + [None] * (len(self.columns) - 1)

    def merge(self, into: list, other: list) -> None:
        """Adds `other`'s total into `into`; the details become the later row's."""
        into[0] += other[0]
        if other[1] is not None and (
            into[1] is None or other[1 : 1 + self.order] > into[1 : 1 + self.order]
        ):
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


def add_tally(tallies: dict[tuple, list], table: TallyTable, slot: tuple, values: list) -> None:
    if slot in tallies:
        table.merge(tallies[slot], values)
    else:
        tallies[slot] = values


def add_row(
    tallies: dict[tuple, list],
    table: TallyTable,
    *,
    day: date,
    today: date,
    key: str,
    values: list,
    all_time: bool = False,
) -> None:
    """Adds one SLiMS row (values: [1, order..., details...]) to its buckets."""
    year = (GRAIN_YEAR, year_start(day), key)
    if keeps_day(day, today):
        add_tally(tallies, table, (GRAIN_DAY, day, key), values)
        add_tally(tallies, table, year, table.counting_only(values))
        add_tally(
            tallies, table, (GRAIN_MONTH, day.replace(day=1), key), table.counting_only(values)
        )
    else:
        add_tally(tallies, table, year, values)
    if all_time:
        add_tally(tallies, table, (GRAIN_ALL, ALL_TIME_BUCKET, key), table.counting_only(values))


def compact_tallies(table: TallyTable, generation: int, today: date) -> None:
    """Hands the details of day buckets of ended months to their year buckets (whose counts
    already hold them) and drops the day buckets and the months' running totals."""
    table.model.objects.filter(
        generation=generation, grain=GRAIN_MONTH, bucket__lt=today.replace(day=1)
    ).delete()
    ended = table.model.objects.filter(
        generation=generation, grain=GRAIN_DAY, bucket__lt=today.replace(day=1)
    )
    details: dict[tuple, list] = {}
    for bucket, key, _, *rest in ended.values_list("bucket", "key", *table.columns):
        add_tally(details, table, (GRAIN_YEAR, year_start(bucket), key), [0, *rest])
    if not details:
        return
    ended.delete()
    upsert_tallies(table, generation, details)
