"""The service's copies of the few columns of SLiMS's big tables the reports group by (a
member's type, a copy's collection type, location and title, a title's class): read in short
primary-key chunks, as the rollups read their rows, so no statement holds a MyISAM table for
long. Rows deleted in SLiMS leave the copy at the end of a pass."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, models, transaction
from django.db.models import Max
from django.utils import timezone

from config.library import own_tables
from metrics_cache.reports.lookups import copy_record, failed
from metrics_cache.reports.models import LookupCopy
from metrics_cache.rollups.engine import ChunkSizer
from metrics_cache.rollups.tallies import write_rows

# Rows of the first statement on SLiMS, a primary-key range read; the next are sized from the
# last one's time, as the rollups' are (about 50 ms each, never holding a MyISAM table long).
CHUNK_ROWS = 5_000


@dataclass(frozen=True)
class Copy:
    """One SLiMS table copied: `rows()` reads it (values, its primary key first), `to_row`
    turns a row into the values of `columns` of `target` (its primary key first)."""

    kind: str
    source: type[models.Model]
    rows: Callable[[], models.QuerySet]
    target: type[models.Model]
    columns: tuple[str, ...]
    to_row: Callable[[tuple], tuple]

    @property
    def table(self) -> str:
        return self.source._meta.db_table


def _changed(copy: Copy, values: list[tuple]) -> list:
    """The keys among `values` (rows of copy.columns) that are new or differ from the copy."""
    key = copy.columns[0]
    stored = {
        row[0]: row[1:]
        for row in copy.target.objects.filter(**{f"{key}__in": [v[0] for v in values]}).values_list(
            *copy.columns
        )
    }
    return [v[0] for v in values if stored.get(v[0]) != tuple(v[1:])]


def refresh(copy: Copy) -> LookupCopy:
    """One pass over the SLiMS table; records why when it cannot be read. The record's
    `changed_keys` (not stored) lists the keys added, changed or gone in this pass."""
    record = copy_record(copy.kind, copy.table)
    pk = copy.source._meta.pk.attname
    # Any number above every stored row's (the rows this pass does not write are gone).
    last_round = copy.target.objects.aggregate(last=Max("round"))["last"]
    this_round = (last_round or 0) + 1  # pragma: no mutate
    digest, copied, after = hashlib.sha1(), 0, None
    sizer = ChunkSizer(CHUNK_ROWS)
    changed: list = []
    try:
        while True:
            rows = copy.rows()
            if after is not None:
                rows = rows.filter(**{f"{pk}__gt": after})
            limit = sizer.rows
            started = time.perf_counter()
            chunk = list(rows.order_by(pk)[:limit])
            sizer.update(len(chunk), time.perf_counter() - started)
            values = [copy.to_row(row) for row in chunk]
            changed += _changed(copy, values)
            # One transaction per chunk: in autocommit, SQLite syncs the file after every row.
            with transaction.atomic(using=own_tables()):
                write_rows(
                    copy.target,
                    (*copy.columns, "round"),
                    copy.columns[:1],
                    [(*row, this_round) for row in values],
                )
            for row in values:
                digest.update(repr(row).encode())
            copied += len(chunk)
            if len(chunk) < limit:
                break
            after = chunk[-1][0]
    except DatabaseError as exc:
        return failed(record, exc, "reports cannot group by it")
    gone = copy.target.objects.filter(round__lt=this_round)
    changed += list(gone.values_list(copy.columns[0], flat=True))
    gone.delete()
    record.changed_keys = changed
    now = timezone.now()
    if digest.hexdigest() != record.checksum:
        record.checksum, record.changed_at, record.changes = (
            digest.hexdigest(),
            now,
            record.changes + 1,  # pragma: no mutate (read only for a change: revision())
        )
    record.copied_at, record.rows, record.error = now, copied, ""
    record.save()
    return record
