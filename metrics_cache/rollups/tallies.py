"""Rollup rows: the buckets a SLiMS row counts in, and writing them in batches.

Every row adds to its year's bucket (and, for loans, to an all-time bucket); a row dated in the
month of the fold or later also keeps a day bucket, which carries its details (the latest
visit's name) while the year bucket carries only its count. "This month to yesterday" is the
day buckets in range; "this year to yesterday" and "all time to yesterday" are the year (or
all-time) buckets less the day buckets dated after yesterday, which hold every row dated today
or later. When a month ends, `compact_tallies` hands its day buckets' details to their year
buckets and drops them. No figure depends on when a row was folded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db import connections, models, router
from django.db.models.constants import OnConflict

GRAIN_DAY, GRAIN_MONTH, GRAIN_YEAR, GRAIN_ALL = "D", "M", "Y", "A"
ALL_TIME_BUCKET = date(1, 1, 1)

# Key lists per statement when reading existing rollup rows (SQLite's variable limit).
KEYS_PER_STATEMENT = 500


def year_start(day: date) -> date:
    return date(day.year, 1, 1)


def keeps_day(day: date, today: date) -> bool:
    """True when a row dated `day`, folded on `today`, also keeps a day bucket."""
    return day >= today.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


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
        fields,  # pragma: no mutate (every backend reads it only for other conflict modes)
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


def count_day(days: dict[date, list[int]], day: date, row_id: int) -> None:
    """Counts one row in `days` ({day: [total, first id, last id]})."""
    counted = days.get(day)
    if counted is None:
        days[day] = [1, row_id, row_id]
    else:
        counted[0] += 1
        # Rows come in id order: the day's first id is already its lowest, updated or not.
        counted[1], counted[2] = (  # pragma: no mutate
            min(counted[1], row_id),
            max(counted[2], row_id),
        )


def add_days(model, generation: int, days: dict[date, list[int]]) -> None:
    """Adds per-day counts ([total, first id, last id]) to a VisitDay/LoanDay generation."""
    for batch in grouped(days):
        stored = model.objects.filter(generation=generation, day__in=batch)
        for day, total, first_id, last_id in stored.values_list(
            "day", "total", "first_id", "last_id"
        ):
            new = days[day]
            new[0] += total
            new[1], new[2] = (
                # A fold reads only rows above the watermark: the stored first id is the lowest.
                min(new[1], first_id),  # pragma: no mutate
                max(new[2], last_id),
            )
    write_rows(
        model,
        ("generation", "day", "total", "first_id", "last_id", "breakdowns_stale"),
        ("generation", "day"),
        [(generation, day, *values, True) for day, values in days.items()],
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


@dataclass(frozen=True)
class CountTable:
    """A count model: the columns that name a count (its date first), and its total."""

    model: type[models.Model]
    columns: tuple[str, ...]


def add_counts(table: CountTable, generation: int, counts: dict[tuple, int]) -> None:
    """Adds `counts` ({values of table.columns: n}, n may be negative) to a generation's
    stored counts."""
    days = {slot[0] for slot in counts}
    for batch in grouped(days):
        stored = table.model.objects.filter(
            generation=generation, **{f"{table.columns[0]}__in": batch}
        )
        for *slot, total in stored.values_list(*table.columns, "total"):
            slot = tuple(slot)
            if slot in counts:
                counts[slot] += total
    unique = ("generation", *table.columns)
    write_rows(
        table.model,
        (*unique, "total"),
        unique,
        [(generation, *slot, total) for slot, total in counts.items()],
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
