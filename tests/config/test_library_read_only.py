"""Read-only by construction: the service's library connection can only SELECT, and a whole
round of its work leaves every SLiMS table exactly as it was."""

from __future__ import annotations

from io import StringIO

import MySQLdb
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections

from demo.schema import SLIMS_TABLES
from metrics_cache.today import loop
from tests.support.library import library_test

pytestmark = library_test


def checksums() -> dict[str, object]:
    connection = connections["library"]
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"CHECKSUM TABLE {', '.join(SLIMS_TABLES)} EXTENDED")
            return dict(cursor.fetchall())
        sums = {}
        for table in SLIMS_TABLES:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            sums[table] = hash(tuple(cursor.fetchall()))
        return sums


def test_the_service_connects_with_select_grants_only(library):
    connection = connections["library"]
    if connection.vendor != "mysql":
        pytest.skip("grants are a MariaDB/MySQL matter")
    with connection.cursor() as cursor:
        cursor.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cursor.fetchall())
    assert "GRANT SELECT ON" in grants
    for privilege in ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "ALL PRIVILEGES"):
        assert privilege not in grants
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("INSERT INTO visitor_count (member_name, checkin_date) VALUES ('x', NOW())")


def test_a_round_of_work_changes_nothing_in_the_library(library, settings, client):
    settings.VISITOR_SYNC_BUFFER_MS = 0
    library.visit("2026-11-20 10:00:00", member_id="M1", name="Budi")
    library.member("M1", "Budi")
    library.loan(library.item(library.biblio("Kalkulus")), "M1", "2026-11-20")
    before = checksums()
    call_command("prewarm", stdout=StringIO())
    for mode in ("direct", "delta", "incremental"):
        settings.TODAY_COUNT_MODE = mode
        loop.tick()
        loop.reconcile_tick()
    call_command("recount_today", stdout=StringIO())
    call_command("doctor", stdout=StringIO())
    for path in ("/api/visitors/today", "/health", "/api/visitors/summary", "/metrics"):
        client.get(path)
    assert checksums() == before


def test_the_session_is_read_only_and_read_committed_from_its_first_statement(library):
    """Both set as the connection opens (its init_command): no statement of Django's after it,
    a round trip each task's new connection saves."""
    connection = connections["library"]
    if connection.vendor != "mysql":
        pytest.skip("a MariaDB/MySQL session's settings")
    connection.close()
    connection.queries_log.clear()
    connection.force_debug_cursor = True  # logs every statement, those made on connecting too
    try:
        connection.ensure_connection()
    finally:
        connection.force_debug_cursor = False
    assert list(connection.queries_log) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@tx_isolation, @@tx_read_only")
        assert cursor.fetchone() == ("READ-COMMITTED", 1)


def test_a_new_connection_sends_no_statement_for_its_autocommit(library):
    """In autocommit from the first statement, as Django wants it: mysqlclient would turn it
    off as it connects and Django on again, two statements more on every new connection (a
    tick's, each library's, every few seconds)."""
    connection = connections["library"]
    if connection.vendor != "mysql":
        pytest.skip("a MariaDB/MySQL session's statements")

    def set_statements(cursor) -> int:
        cursor.execute("SHOW SESSION STATUS LIKE 'Com_set_option'")
        return int(cursor.fetchone()[1])

    # The same session, opened by mysqlclient alone with autocommit left at the server's
    # default: its init_command and character set, and nothing else.
    params = {**connection.get_connection_params(), "autocommit": None}
    bare = MySQLdb.connect(**params)
    try:
        expected = set_statements(bare.cursor())
    finally:
        bare.close()
    connection.close()
    with connection.cursor() as cursor:
        assert set_statements(cursor) == expected
    assert connection.connection.get_autocommit()
