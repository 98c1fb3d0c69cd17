"""The service's own tables on SQLite (the default): a write-ahead log synced at checkpoints,
so a job's commits do not each wait for the disk and a reader never waits for a writer."""

from __future__ import annotations

import pytest
from django.db import connections

from config.libraries import service_database


@pytest.fixture
def own_sqlite():
    if connections["default"].vendor != "sqlite":
        pytest.skip("DATABASE_URL names a server: its own durability settings apply")


@pytest.mark.django_db
def test_the_own_tables_are_written_ahead_and_synced_at_checkpoints(own_sqlite):
    with connections["default"].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL (FULL is 2)


def test_each_library_s_own_file_is_opened_the_same_way(own_sqlite, tmp_path, django_db_blocker):
    database = service_database(connections["default"].settings_dict, "smp1", tmp_path)
    connections.settings["own-smp1"] = database
    try:
        with django_db_blocker.unblock(), connections["own-smp1"].cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1
    finally:
        connections["own-smp1"].close()
        del connections.settings["own-smp1"]
        del connections["own-smp1"]
