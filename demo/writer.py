"""A separate, write-enabled connection to the library database, for seed_demo and tests only.

The service's own `library` connection is read-only on the server side (a READ ONLY
session on MariaDB/MySQL, query_only on SQLite). Filling a demo library is the one
legitimate write, so it gets its own connection and never shares the service's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from config.library import LIBRARY_ALIAS

# Credentials for the writer when the service's own connection may only read (the test suite
# reads the library as a SELECT-only user): {"USER": ..., "PASSWORD": ...}.
WRITER_CREDENTIALS: dict[str, str] = {}


@contextmanager
def library_writer(alias: str = LIBRARY_ALIAS) -> Iterator[BaseDatabaseWrapper]:
    reader = connections[alias]
    settings_dict = {**reader.settings_dict, **WRITER_CREDENTIALS}
    writer = type(reader)(settings_dict, alias=f"{alias}-writer")
    try:
        with writer.cursor() as cursor:
            if writer.vendor == "mysql":
                cursor.execute("SET SESSION TRANSACTION READ WRITE")
            elif writer.vendor == "sqlite":
                cursor.execute("PRAGMA query_only = OFF")
        yield writer
    finally:
        writer.close()
