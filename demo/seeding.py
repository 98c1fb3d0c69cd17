"""Creates the SLiMS tables in an empty database and fills them with a demo library."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.backends.base.base import BaseDatabaseWrapper

from demo import lookups
from demo.generator import DemoLibrary, DemoSize
from demo.schema import (
    MARKER_TABLE,
    SLIMS_TABLES,
    create_statements,
    drop_marker_statement,
    drop_statements,
    marker_statements,
)


class LibraryNotEmpty(Exception):
    """The target database already has SLiMS tables; seeding would destroy them."""


class NotADemoLibrary(LibraryNotEmpty):
    """--force, but the SLiMS tables there were not created by seed_demo (no marker)."""


@dataclass(frozen=True)
class TableResult:
    table: str
    rows: int
    seconds: float


def existing_tables(connection: BaseDatabaseWrapper) -> dict[str, bool]:
    """{table: holds rows} for each SLiMS table that exists."""
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
        found = {}
        for table in SLIMS_TABLES:
            if table in present:
                cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
                found[table] = cursor.fetchone() is not None
    return found


def is_demo_library(connection: BaseDatabaseWrapper) -> bool:
    """The database carries seed_demo's marker: seed_demo created its SLiMS tables."""
    with connection.cursor() as cursor:
        return MARKER_TABLE in connection.introspection.table_names(cursor)


def seed(
    connection: BaseDatabaseWrapper,
    *,
    size: DemoSize,
    seed: int,
    now: datetime,
    force: bool = False,
    batch: int = 10_000,
    progress: Callable[[TableResult], None] = lambda result: None,
) -> list[TableResult]:
    found = existing_tables(connection)
    if found and not force:
        tables = ", ".join(
            f"{table} ({'has rows' if has_rows else 'empty'})" for table, has_rows in found.items()
        )
        raise LibraryNotEmpty(
            f"refusing to seed {connection.settings_dict['NAME']}: it already has SLiMS tables: "
            f"{tables}. seed_demo only fills a database without them; pass --force to drop "
            "and replace them (never on a real library)."
        )
    if found and not is_demo_library(connection):
        raise NotADemoLibrary(
            f"refusing to seed {connection.settings_dict['NAME']}: its SLiMS tables were not "
            f"created by seed_demo (no {MARKER_TABLE} table), so they may be a real library's. "
            "--force only replaces a demo library; seed an empty database instead."
        )
    # One transaction on SQLite (all or nothing, and fast); MyISAM has none to offer.
    connection.set_autocommit(False)
    try:
        results = _create_and_fill(
            connection, size=size, seed=seed, now=now, batch=batch, progress=progress
        )
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.set_autocommit(True)
    return results


def _create_and_fill(connection, *, size, seed, now, batch, progress) -> list[TableResult]:
    vendor = connection.vendor
    # The marker first: a seed that fails half-way still leaves a library --force may replace.
    marker = marker_statements(vendor, seed=seed, seeded_at=now.isoformat(timespec="seconds"))
    with connection.cursor() as cursor:
        for statement in [
            drop_marker_statement(vendor), *drop_statements(vendor), *marker,
            *create_statements(vendor),
        ]:  # fmt: skip
            cursor.execute(statement)

    library = DemoLibrary(size, seed=seed, now=now)
    results = []
    for table, columns, rows in lookups.TABLES:
        _bulk_insert(connection, table, columns, iter([list(rows)]))
    for table, columns, rows in (
        ("member", library.member_columns, library.member_rows(batch)),
        ("biblio", library.biblio_columns, library.biblio_rows(batch)),
        ("item", library.item_columns, library.item_rows(batch)),
        ("loan", library.loan_columns, library.loan_rows(batch)),
        ("visitor_count", library.visit_columns, library.visit_rows(batch)),
    ):
        started = time.perf_counter()
        count = _bulk_insert(connection, table, columns, rows)
        result = TableResult(table, count, time.perf_counter() - started)
        progress(result)
        results.append(result)
    connection.commit()
    return results


def _bulk_insert(
    connection: BaseDatabaseWrapper,
    table: str,
    columns: tuple[str, ...],
    batches: Iterable[list[tuple]],
) -> int:
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            # MyISAM: build the secondary indexes once at the end instead of per row.
            cursor.execute(f"ALTER TABLE {quote(table)} DISABLE KEYS")
        for rows in batches:
            # mysqlclient turns executemany of an INSERT into multi-row INSERT statements.
            cursor.executemany(sql, rows)
            count += len(rows)
        if connection.vendor == "mysql":
            cursor.execute(f"ALTER TABLE {quote(table)} ENABLE KEYS")
    return count
