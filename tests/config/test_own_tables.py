"""The service's own tables on SQLite (the default): a write-ahead log synced at checkpoints,
so a job's commits do not each wait for the disk and a reader never waits for a writer."""

from __future__ import annotations

import pytest
from django.db import connections

from config.libraries import service_database
from tests.support.aliases import extra_aliases


@pytest.fixture
def own_sqlite():
    if connections["default"].vendor != "sqlite":
        pytest.skip("DATABASE_URL names a server: its own durability settings apply")


def written_ahead_and_synced_at_checkpoints(alias: str) -> tuple[str, int]:
    with connections[alias].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        return mode, cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_own_tables_are_written_ahead_and_synced_at_checkpoints(own_sqlite):
    assert written_ahead_and_synced_at_checkpoints("default") == ("wal", 1)  # 1: NORMAL


def test_each_library_s_own_file_is_opened_the_same_way(own_sqlite, tmp_path, django_db_blocker):
    database = service_database(connections["default"].settings_dict, "smp1", tmp_path)
    with extra_aliases(**{"own-smp1": database}), django_db_blocker.unblock():
        assert written_ahead_and_synced_at_checkpoints("own-smp1") == ("wal", 1)
