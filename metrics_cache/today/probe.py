"""One statement per database server for a group's ticks. Libraries often share a MariaDB
server and its credentials (a district's schools on one host); a tick in delta mode opens a
connection to its library's database only to ask whether a row lies above its rollups'
watermark, and most ticks find none. Here the libraries of a group that share a server and
credentials are asked together, on one connection, in one statement: the highest visitor_id
of each. A tick whose watermark is at or above its library's knows that no row lies above it
without a connection of its own (rows added since are the next tick's, as if the tick had run
a moment earlier). A library alone on its server in the group, one whose database name cannot
be quoted, any error: those libraries ask for themselves, as before."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from config.libraries import Library
from metrics_cache.operations.host_slots import HostSlots, host_of
from visitors.models import Visit

logger = logging.getLogger(__name__)

MYSQL = "django.db.backends.mysql"
# The probe's bound on connecting and on its statement (a tick's soft time limit is 12 s).
WAIT_SECONDS = 2
# What connects: libraries whose settings agree on all of it can share a connection.
_SERVER = ("ENGINE", "HOST", "PORT", "USER", "PASSWORD", "OPTIONS")

_probed: ContextVar[int | None] = ContextVar("probed_highest_id", default=None)
_here = threading.local()


def server_of(library: Library) -> str | None:
    """What a connection to the library's database is made of, but the database; None: not
    probed together (not on MariaDB/MySQL, a name that cannot be quoted)."""
    database = connections[library.alias].settings_dict
    if database["ENGINE"] != MYSQL or "`" in database["NAME"]:
        return None
    # OPTIONS: made for every library by config.libraries.reading, its keys in one order.
    return json.dumps([database.get(key) for key in _SERVER])


def highest_ids(libraries: list[Library]) -> dict[str, int]:
    """{slug: the highest visitor_id in its SLiMS database} for the libraries that share their
    server with another of `libraries`: one statement per server. A server whose statement
    fails leaves its libraries out."""
    together: dict[str, list[Library]] = defaultdict(list)
    for library in libraries:
        if (server := server_of(library)) is not None:
            together[server].append(library)
    found: dict[str, int] = {}
    for server, sharing in together.items():
        if len(sharing) > 1:
            # Any library of the server: their settings differ in NAME (not used) and
            # TIME_ZONE (no date is read).
            first = sharing[0].alias  # pragma: no mutate (any of them: the same connection)
            found.update(_ask(connection_for(server, first), sharing))
    return found


def _ask(connection: BaseDatabaseWrapper, sharing: list[Library]) -> dict[str, int]:
    quote = connection.ops.quote_name
    table, pk = quote(Visit._meta.db_table), quote(Visit._meta.pk.column)
    columns = ", ".join(
        f"(SELECT MAX({pk}) FROM {quote(connections[lib.alias].settings_dict['NAME'])}.{table})"
        for lib in sharing
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns}")
            row = cursor.fetchone()
    # Anything (a server that hangs past the bound, the task's soft time limit): each
    # library's tick asks for itself and meets it there, under the tick's own bounds.
    except Exception as exc:
        logger.info("libraries probed together on %s: %s", connection.alias, exc)
        return {}
    finally:
        connection.close()  # one connection at a time to a shared server
    # One column per library (zip's strictness never matters); an empty table's MAX is NULL:
    # nothing above any watermark.
    pairs = zip(sharing, row, strict=True)  # pragma: no mutate
    return {lib.slug: highest or 0 for lib, highest in pairs}


def connection_for(server: str, alias: str) -> BaseDatabaseWrapper:
    """The probe's connection to a server (`alias`: a library's there): as the library's
    connects but to no database (the statement names each), with waits bounded well inside a
    tick's time limit (a server that hangs costs a group this long, not the tick's limit), its
    statement taking a slot of the host like any other (operations.host_slots). One per
    server and thread, closed after each use."""
    try:
        made = _here.connections
    except AttributeError:
        made = _here.connections = {}
    if server not in made:
        reader = connections[alias]
        options = {**reader.settings_dict["OPTIONS"], **dict.fromkeys(
            ("connect_timeout", "read_timeout", "write_timeout"), WAIT_SECONDS)}  # fmt: skip
        probing = {**reader.settings_dict, "NAME": "", "OPTIONS": options}
        made[server] = type(reader)(probing, f"{alias}-probe")
        host = host_of(reader.settings_dict)
        if settings.LIBRARY_HOST_CONCURRENCY and host is not None:
            made[server].execute_wrappers.append(HostSlots(host))
    return made[server]


def forget() -> None:
    """Drops this thread's probe connections (closed already): the next probe makes them."""
    _here.__dict__.pop("connections", None)


@contextlib.contextmanager
def probed(highest: int | None) -> Iterator[None]:
    """Inside: the current library's highest visitor_id as probed (None: not probed)."""
    token = _probed.set(highest)
    try:
        yield
    finally:
        _probed.reset(token)


def known_highest() -> int | None:
    return _probed.get()
