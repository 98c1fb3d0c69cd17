"""A database alias added for one test (a library of a file, its own tables) and removed after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections


@contextlib.contextmanager
def extra_aliases(**databases: dict) -> Iterator[None]:
    """`alias=settings_dict` pairs, usable as connections[alias] until the block ends."""
    for alias, database in databases.items():
        connections.settings[alias] = database
    try:
        yield
    finally:
        for alias in databases:
            connections[alias].close()
            del connections.settings[alias]
            del connections[alias]
