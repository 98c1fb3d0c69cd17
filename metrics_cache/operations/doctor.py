"""What will be slow or wrong on this library database. Reads only; changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import DatabaseError, connections
from django.utils import timezone

from config.library import LibraryModel, current
from metrics_cache.reports.lookups import grant_statement
from metrics_cache.snapshots.registry import METRICS

# The date columns every scheduled query filters on, and SLiMS ships without an index on.
DATE_COLUMNS = {"visitor_count": "checkin_date", "loan": "loan_date"}


@dataclass
class Finding:
    level: str  # error | warning | info
    message: str
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    tables: list[tuple[str, str, int | None]] = field(default_factory=list)  # name, engine, rows
    explains: list[tuple[str, str]] = field(default_factory=list)  # metric, plan

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


def library_models() -> list[type[LibraryModel]]:
    return [m for m in apps.get_models() if issubclass(m, LibraryModel)]


def examine(*, explain: bool = True) -> Report:
    report = Report()
    connection = connections[current().alias]
    try:
        with connection.cursor() as cursor:
            # table_names(None) opens a cursor of its own.
            present = set(connection.introspection.table_names(cursor))  # pragma: no mutate
    except DatabaseError as exc:
        report.findings.append(Finding("error", f"cannot connect to the library database: {exc}"))
        return report
    usable = True
    for model in library_models():
        table = model._meta.db_table
        if table not in present and getattr(model, "reports_only", False):
            report.findings.append(_lookup_missing(table))
            continue
        if table not in present:
            report.findings.append(Finding("error", f"table {table} is missing"))
            usable = False
            continue
        with connection.cursor() as cursor:
            columns = {
                c.name for c in connection.introspection.get_table_description(cursor, table)
            }
        missing = [f.column for f in model._meta.concrete_fields if f.column not in columns]
        if missing:
            usable = False
            report.findings.append(
                Finding("error", f"{table} lacks column(s) {', '.join(missing)}")
            )
        report.tables.append((table, *_engine_and_rows(connection, table)))
    for table, column in DATE_COLUMNS.items():
        if table in present and not _is_indexed(connection, table, column):
            report.findings.append(_missing_index(connection.vendor, table, column))
    if explain and usable:
        today = timezone.localdate()
        for metric in METRICS:
            for query in metric.queries(metric.period(today)):
                report.explains.append((metric.name, query.explain()))
    return report


def _lookup_missing(table: str) -> Finding:
    return Finding(
        "warning",
        f"table {table} is missing or not granted to the service's user: the reports show "
        "its codes without names",
        grant_statement(table),
    )


def _engine_and_rows(connection, table: str) -> tuple[str, int | None]:
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                # MariaDB's keywords, functions and information_schema names in any case.
                "SELECT engine, table_rows FROM information_schema.tables "  # pragma: no mutate
                "WHERE table_schema = DATABASE() AND table_name = %s",  # pragma: no mutate
                [table],
            )
            engine, rows = cursor.fetchone()
            return engine, rows  # exact for MyISAM, an estimate for InnoDB
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        return "sqlite", cursor.fetchone()[0]


def _is_indexed(connection, table: str, column: str) -> bool:
    """True when `column` leads some index (only a leading column helps a range)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(
        c["index"] and c["columns"] and c["columns"][0] == column for c in constraints.values()
    )


def _missing_index(vendor: str, table: str, column: str) -> Finding:
    if vendor == "mysql":
        ddl = f"ALTER TABLE {table} ADD INDEX {column} ({column});"
    else:
        ddl = f"CREATE INDEX {table}_{column} ON {table} ({column});"
    return Finding(
        "warning",
        f"{table}.{column} has no index (the SLiMS default): every date-range query on {table} "
        "reads the whole table. The service copes (its rollups and the fast loop read new rows "
        "through the primary key), but an index makes direct mode, and the snapshots computed "
        "before the rollups' first build, much cheaper.",
        fix=(
            f"{ddl}\n    Trade-off: building it locks {table} for writes while it runs (on MyISAM, "
            "for the whole build, minutes on millions of rows): run it after hours. It costs "
            "disk space and a little time on each insert. SLiMS works unchanged with it."
        ),
    )
