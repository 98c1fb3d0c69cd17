"""manage.py doctor: it reports, and changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from demo.schema import SLIMS_TABLES
from tests.support.library import library_test

pytestmark = library_test


def table_names() -> set[str]:
    with connections["library"].cursor() as cursor:
        return set(connections["library"].introspection.table_names(cursor))


def test_doctor_on_a_stock_slims_database(library):
    library.visit("2026-11-24 10:00:00")
    before = table_names()
    out = StringIO()
    call_command("doctor", stdout=out)
    text = out.getvalue()
    for table in SLIMS_TABLES:
        assert table in text
    assert "visitor_count.checkin_date has no index" in text
    assert "loan.loan_date has no index" in text
    if connections["library"].vendor == "mysql":
        assert "ALTER TABLE visitor_count ADD INDEX checkin_date (checkin_date);" in text
        assert "MyISAM" in text
    else:
        assert "CREATE INDEX visitor_count_checkin_date ON visitor_count (checkin_date);" in text
    assert "after hours" in text
    assert "EXPLAIN yearly" in text and "EXPLAIN top_borrowers_year" in text
    assert "has what the service needs" in text
    assert table_names() == before  # nothing created


def test_doctor_sees_an_index_a_dba_added(library, django_db_blocker):
    from demo.writer import library_writer

    with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
        cursor.execute("CREATE INDEX loan_date ON loan (loan_date)")
    try:
        out = StringIO()
        call_command("doctor", "--no-explain", stdout=out)
        assert "loan.loan_date has no index" not in out.getvalue()
        assert "visitor_count.checkin_date has no index" in out.getvalue()
    finally:
        with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
            if writer.vendor == "mysql":
                cursor.execute("DROP INDEX loan_date ON loan")
            else:
                cursor.execute("DROP INDEX loan_date")


def test_doctor_fails_on_missing_tables(scratch_library):
    out = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("doctor", stdout=out)
    assert "table visitor_count is missing" in out.getvalue()
    assert table_names() == set()
