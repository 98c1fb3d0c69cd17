"""Fixtures: the test library database with SLiMS's tables, its rows, and a clean Redis."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connections
from django_redis import get_redis_connection

from demo import writer as writer_module
from demo.schema import create_statements, drop_statements
from demo.writer import library_writer
from tests.support.library import LibraryRows


def _library_options() -> dict:
    return connections["library"].settings_dict.setdefault("OPTIONS", {})


READ_ONLY_INIT = _library_options().get("init_command")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Creating and dropping the test library database are the only statements the service's
    # read-only session would refuse; they run without it, the tests themselves with it.
    _library_options().pop("init_command", None)


# On MariaDB the service reads the test library as a user with SELECT grants only, as the
# README tells a DBA to set up: any write the code attempted would fail the suite.
READER = {"USER": "libdash_reader", "PASSWORD": "reader-only-for-tests"}
READER_HOSTS = ("localhost", "127.0.0.1", "%")


def grant_select(cursor, database: str) -> None:
    for host in READER_HOSTS:
        cursor.execute(
            f"CREATE USER IF NOT EXISTS '{READER['USER']}'@'{host}' "
            f"IDENTIFIED BY '{READER['PASSWORD']}'"
        )
        cursor.execute(f"GRANT SELECT ON `{database}`.* TO '{READER['USER']}'@'{host}'")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    connection = connections["library"]
    admin = {k: connection.settings_dict[k] for k in ("USER", "PASSWORD")}
    # pytest-django creates the test library database only when a selected test needs it
    # (a file run alone may not): without it there is nothing to grant on.
    set_up = connection.settings_dict["NAME"] == connection.settings_dict["TEST"]["NAME"]
    if connection.vendor == "mysql" and set_up:
        with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
            grant_select(cursor, connection.settings_dict["NAME"])
        writer_module.WRITER_CREDENTIALS.update(admin)
        connection.settings_dict.update(READER)
    _library_options()["init_command"] = READ_ONLY_INIT
    connection.close()
    yield
    # Dropping the test database needs the admin and no read-only session.
    _library_options().pop("init_command", None)
    connection.settings_dict.update(admin)
    connection.close()


@pytest.fixture(scope="session")
def library_tables(django_db_setup, django_db_blocker):
    """Creates the five SLiMS tables, as seed_demo does, in the test library database."""
    with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
        for statement in drop_statements(writer.vendor) + create_statements(writer.vendor):
            cursor.execute(statement)
    yield


@pytest.fixture
def library(library_tables, django_db_blocker):
    """Empty SLiMS tables and a factory for rows in them."""
    with django_db_blocker.unblock(), library_writer() as writer:
        rows = LibraryRows(writer)
        rows.truncate()
        yield rows


@pytest.fixture(autouse=True)
def clean_redis(settings):
    """Each test starts with an empty cache database (the test command points REDIS_URL at one)."""
    if settings.REDIS_URL.rstrip("/").endswith(("6379", "/0")):
        pytest.exit("tests flush Redis: point REDIS_URL at a scratch database (scripts/test does)")
    get_redis_connection("default").flushdb()
    yield
    cache.close()


@pytest.fixture
def scratch_library(library_tables, django_db_blocker, tmp_path):
    """Points the `library` alias at a new, empty database for the duration of a test."""
    connection = connections["library"]
    original = connection.settings_dict["NAME"]
    with django_db_blocker.unblock():
        if connection.vendor == "mysql":
            scratch = f"{original}_scratch"
            with library_writer() as writer, writer.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {scratch}")
                cursor.execute(f"CREATE DATABASE {scratch} CHARACTER SET utf8")
                grant_select(cursor, scratch)
        else:
            scratch = str(tmp_path / "scratch-library.sqlite3")
        connection.close()
        connection.settings_dict["NAME"] = scratch
        try:
            yield scratch
        finally:
            connection.close()
            connection.settings_dict["NAME"] = original
            if connection.vendor == "mysql":
                with library_writer() as writer, writer.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE IF EXISTS {scratch}")


@pytest.fixture
def broker(settings):
    """The Celery broker's Redis database, emptied: tests count the messages queued on it."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    if settings.CELERY_BROKER_URL.rstrip("/").endswith(("6379", "/0", "/1")):
        pytest.exit("tests flush the broker: point REDIS_URL at a scratch database")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(autouse=True)
def fresh_health_probes():
    """/health keeps a probe's result for a few seconds per process: no test inherits one."""
    from metrics_cache.operations import health

    health.forget_probes()
    yield
