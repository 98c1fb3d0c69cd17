"""manage.py doctor's report as a library's IT person reads it: each table's engine and rows,
which date columns lack an index and what a DBA can run about it, and what stops the service."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from demo.writer import library_writer
from metrics_cache.operations.doctor import examine
from tests.support.library import library_test

pytestmark = library_test


def vendor() -> str:
    return connections["library"].vendor


def test_each_table_is_listed_with_its_engine_and_its_rows(library):
    for day in ("2026-11-23", "2026-11-24", "2026-11-25"):
        library.visit(f"{day} 10:00:00")
    library.member("M1", "Budi")
    report = examine(explain=False)
    engine = "MyISAM" if vendor() == "mysql" else "sqlite"
    assert sorted(report.tables) == [
        ("biblio", engine, 0),
        ("item", engine, 0),
        ("loan", engine, 0),
        ("member", engine, 1),
        ("mst_coll_type", engine, 0),
        ("mst_location", engine, 0),
        ("mst_member_type", engine, 0),
        ("mst_visitor_room", engine, 0),
        ("visitor_count", engine, 3),  # MyISAM's row count is exact
    ]
    assert report.errors == []
    out = StringIO()
    call_command("doctor", "--no-explain", stdout=out)
    assert f"  visitor_count  {engine:<8} {3:>12} rows" in out.getvalue().splitlines()


@pytest.fixture
def composite_indexes(library, django_db_blocker):
    """An index with checkin_date second (no help to a date range) and one led by loan_date."""
    statements = [
        ("CREATE INDEX visit_member_day ON visitor_count (member_id, checkin_date)",
         "visit_member_day", "visitor_count"),
        ("CREATE INDEX loan_day_member ON loan (loan_date, member_id)",
         "loan_day_member", "loan"),
    ]  # fmt: skip
    with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
        for create, _, _ in statements:
            cursor.execute(create)
    try:
        yield
    finally:
        with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
            for _, name, table in statements:
                if writer.vendor == "mysql":
                    cursor.execute(f"DROP INDEX {name} ON {table}")
                else:
                    cursor.execute(f"DROP INDEX {name}")


def test_only_an_index_led_by_the_date_column_counts(composite_indexes):
    warnings = [f.message for f in examine(explain=False).findings if f.level == "warning"]
    assert [message.split()[0] for message in warnings] == ["visitor_count.checkin_date"]


def test_the_missing_index_warning_says_what_to_run_and_what_it_costs(library):
    findings = {f.message.split()[0]: f for f in examine(explain=False).findings}
    assert set(findings) == {"visitor_count.checkin_date", "loan.loan_date"}
    finding = findings["loan.loan_date"]
    assert finding.level == "warning"
    assert finding.message == (
        "loan.loan_date has no index (the SLiMS default): every date-range query on loan reads "
        "the whole table. The service copes (its rollups and the fast loop read new rows "
        "through the primary key), but an index makes direct mode, and the snapshots computed "
        "before the rollups' first build, much cheaper."
    )
    ddl = (
        "ALTER TABLE loan ADD INDEX loan_date (loan_date);"
        if vendor() == "mysql"
        else "CREATE INDEX loan_loan_date ON loan (loan_date);"
    )
    assert finding.fix == (
        f"{ddl}\n    Trade-off: building it locks loan for writes while it runs (on MyISAM, "
        "for the whole build, minutes on millions of rows): run it after hours. It costs "
        "disk space and a little time on each insert. SLiMS works unchanged with it."
    )


def test_every_scheduled_query_is_explained(library):
    explained = [metric for metric, plan in examine().explains if plan]
    assert explained == [
        "yearly", "monthly", "weekly",
        "top_visitors_month", "top_visitors_month",  # members, then guests
        "top_visitors_year", "top_visitors_year",
        "top_borrowed", "top_borrowed_month", "top_borrowed_year",
        "top_borrowers_month", "top_borrowers_year",
    ]  # fmt: skip


def test_an_unreachable_library_database_is_one_error_and_nothing_else(library):
    connection = connections["library"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "mysql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=1)
    else:
        connection.settings_dict["NAME"] = "/nonexistent/library.sqlite3"
    try:
        report = examine()
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert [(f.level, f.fix) for f in report.findings] == [("error", "")]
    assert report.findings[0].message.startswith("cannot connect to the library database: ")
    assert report.errors == report.findings
    assert report.tables == [] and report.explains == []


def test_every_missing_table_is_reported_not_only_the_first(scratch_library):
    report = examine()
    assert sorted((f.level, f.message) for f in report.findings) == [
        ("error", f"table {table} is missing")
        for table in ("biblio", "item", "loan", "member", "visitor_count")
    ] + [
        # The reports' lookup tables: without them, codes without names; not an error.
        ("warning", f"table {table} is missing or not granted to the service's user: the "
         "reports show its codes without names")
        for table in ("mst_coll_type", "mst_location", "mst_member_type", "mst_visitor_room")
    ]  # fmt: skip
    assert report.tables == [] and report.explains == []


@pytest.fixture
def library_missing_two_columns(scratch_library, django_db_blocker):
    """The five tables, but visitor_count without `member_name` and `institution`."""
    from demo.schema import create_statements

    with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
        for statement in create_statements(writer.vendor):
            cursor.execute(statement)
        for column in ("member_name", "institution"):
            cursor.execute(f"ALTER TABLE visitor_count DROP COLUMN {column}")


def test_a_table_lacking_several_columns_names_them_all(library_missing_two_columns):
    report = examine()
    assert [(f.level, f.message) for f in report.errors] == [
        ("error", "visitor_count lacks column(s) member_name, institution")
    ]
    assert len(report.tables) == 9  # every table is still listed
    assert report.explains == []  # the queries cannot run without the columns
