"""LIBRARIES_FILE: the SLiMS libraries a deployment serves, as a TOML file read at start-up.

    [libraries.sman3-bandung]
    name = "SMA Negeri 3 Bandung"
    database_url = "mysql://dashboard:secret@10.1.2.3:3306/slims"
    time_zone = "Asia/Jakarta"      # optional: LIBRARY_TIME_ZONE
    count_mode = "delta"            # optional: TODAY_COUNT_MODE

Anything wrong stops the process before it serves, with the file, the line and the problem."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    COUNT_MODES,
    database_config,
    env_str,
    mysql_url_from_parts,
    time_zone_or_none,
)

# Bounds on every wait for a library database: connecting, and any one read or write.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
SQLITE = "django.db.backends.sqlite3"
SLUG = re.compile(r"[a-z0-9-]{1,40}")
KEYS = ("name", "database_url", "time_zone", "count_mode")
_TABLE = re.compile(r"\s*\[\s*libraries\s*\.\s*(\"[^\"]*\"|'[^']*'|[^\]\s]+)\s*\]")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=")


class LibrariesFileError(ImproperlyConfigured):
    """The libraries file cannot be served: names the file, the line and the problem."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"LIBRARIES_FILE {where}: {problem}")


@dataclass(frozen=True)
class Library:
    slug: str
    name: str | None  # None: LIBRARY_NAME
    database: dict  # a Django DATABASES entry, from database_url
    time_zone: str | None  # None: LIBRARY_TIME_ZONE
    count_mode: str | None  # None: TODAY_COUNT_MODE
    # Where its SLiMS tables are read and its own tables (rollups, snapshot records, report
    # copies) kept: DATABASES aliases (config.library.LibraryRouter sends each model there).
    alias: str = "library"
    service_alias: str = "default"


def _lines(text: str) -> dict[tuple[str, str | None], int]:
    """{(slug, None): the line of its [libraries.slug] header, (slug, key): of its key}: where
    to point a problem (a library written some other way TOML allows: no line, its slug)."""
    found: dict[tuple[str, str | None], int] = {}
    slug = None
    for number, line in enumerate(text.splitlines(), start=1):
        if table := _TABLE.match(line):
            slug = table.group(1).strip("\"'")
            found.setdefault((slug, None), number)
        elif slug is not None and (key := _KEY.match(line)):
            found.setdefault((slug, key.group(1)), number)
    return found


def read(path: Path) -> list[Library]:
    """The libraries of the file, in its order; LibrariesFileError on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibrariesFileError(path, None, f"cannot be read ({exc})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise LibrariesFileError(path, int(at.group(1)) if at else None, problem) from None
    lines = _lines(text)
    other = sorted(set(document) - {"libraries"})
    if other:
        raise LibrariesFileError(path, None, f"unknown table {other[0]!r}: only [libraries.<slug>]")
    tables = document.get("libraries")
    if not isinstance(tables, dict) or not tables:
        raise LibrariesFileError(path, None, "no library: add a [libraries.<slug>] table")
    return [_library(path, lines, slug, table) for slug, table in tables.items()]


def _library(path: Path, lines: dict, slug: str, table) -> Library:
    def bad(problem: str, key: str | None = None) -> LibrariesFileError:
        line = lines.get((slug, key)) or lines.get((slug, None))
        return LibrariesFileError(path, line, f"library {slug!r}: {problem}")

    if not SLUG.fullmatch(slug):
        raise bad("a slug is 1 to 40 of a-z, 0-9 and '-'")
    if not isinstance(table, dict):
        raise bad("expected a table: [libraries.<slug>] with name and database_url")
    for key in table:
        if key not in KEYS:
            raise bad(f"unknown key {key!r} (expected {', '.join(KEYS)})", key)
    for key in ("name", "database_url"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise bad(f"{key} is missing or empty", key)
    for key in ("time_zone", "count_mode"):
        if key in table and not isinstance(table[key], str):
            raise bad(f"{key} must be a string", key)
    try:
        database = database_config(table["database_url"].strip())
    except ValueError as exc:
        raise bad(f"database_url {exc}", "database_url") from None
    time_zone = table.get("time_zone")
    if time_zone is not None and time_zone_or_none(time_zone) is None:
        raise bad(f"time_zone {time_zone!r} is not an IANA time zone", "time_zone")
    count_mode = table.get("count_mode")
    if count_mode is not None and count_mode not in COUNT_MODES:
        raise bad(f"count_mode {count_mode!r} is not one of {', '.join(COUNT_MODES)}", "count_mode")
    return Library(slug, table["name"].strip(), database, time_zone, count_mode)


DEFAULT_SLUG = "default"


def home_of(libraries: list[Library]) -> Library:
    """The library kept in the `library` and `default` aliases: `default`, else the first."""
    return next((lib for lib in libraries if lib.slug == DEFAULT_SLUG), libraries[0])


def serves_unprefixed(libraries: list[Library]) -> bool:
    """The paths without /l/<slug>/ serve the library `default`, or the only library."""
    return len(libraries) == 1 or any(lib.slug == DEFAULT_SLUG for lib in libraries)


def placed(libraries: list[Library], home: Library, zone: str) -> list[Library]:
    """Each library with its aliases: the home library in `library` and `default`, every
    other in `library-<slug>` and `service-<slug>`, in its zone (`zone` unless it names one)."""
    return [
        lib
        if lib is home
        else replace(
            lib,
            alias=f"library-{lib.slug}",
            service_alias=f"service-{lib.slug}",
            time_zone=lib.time_zone or zone,
        )
        for lib in libraries
    ]


def test_name(database: dict, slug: str, data_dir: Path) -> str:
    """Test databases named after the library's, so checkouts testing side by side never
    share one; SQLite's a file, not :memory:, so the writer connection of tests and seed_demo
    sees the same data."""
    if database["ENGINE"] != "django.db.backends.mysql":
        return str(data_dir / f"test-library{'-' + slug if slug else ''}.sqlite3")
    if not slug:
        return env_str("LIBRARY_TEST_DATABASE", f"test_{database['NAME']}")
    return f"test_{database['NAME']}_{slug.replace('-', '_')}"


def their_databases(libraries: list[Library], default: dict, data_dir: Path) -> dict:
    """The DATABASES entries of every library but the home one: its SLiMS database, read as
    the home one is, and its own tables beside `default`."""
    found = {}
    for lib in libraries:
        if lib.alias != "library":
            name = test_name(lib.database, lib.slug, data_dir)
            found[lib.alias] = reading(lib.database, lib.time_zone, name)
            found[lib.service_alias] = service_database(default, lib.slug, data_dir)
    return found


def service_database(default: dict, slug: str, data_dir: Path) -> dict:
    """A library's own tables: beside the deployment's (`default`), one SQLite file or one
    database per library, so no two libraries' rollups ever share a table."""
    database = {**default, "OPTIONS": dict(default.get("OPTIONS", {}))}
    if database["ENGINE"] == SQLITE:
        database["NAME"] = str(data_dir / f"app-{slug}.sqlite3")
        database["TEST"] = {"NAME": str(data_dir / f"test-app-{slug}.sqlite3")}
    else:
        database["NAME"] = f"{default['NAME']}_{slug.replace('-', '_')}"
        database["TEST"] = {"NAME": f"test_{database['NAME']}"}
    return database


def reading(database: dict, time_zone: str, test_name: str) -> dict:
    """A library database as the service reads it: read-only on the server's side, bounded
    waits, connections kept a minute by a web process (health checks drop ones the server
    closed; a worker closes what a task opened when it ends, so a server shared by many
    libraries sees one connection per running task), its naive datetimes in the library's
    zone."""
    database = {**database, "TIME_ZONE": time_zone, "CONN_MAX_AGE": 60}
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.mysql":
        database["OPTIONS"] = {
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # A statement that hangs (a host dropping packets) gives up rather than holding a
            # worker: every read of ours is a short one.
            "read_timeout": READ_TIMEOUT_SECONDS,
            "write_timeout": READ_TIMEOUT_SECONDS,
            # Read-only by construction: the server itself refuses writes on this session. The
            # isolation Django would set in a statement of its own after connecting (each task
            # connects again), set here instead: one round trip less per connection.
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY",
            "isolation_level": None,
            # In autocommit from the start, as Django sets it: mysqlclient would turn it off as
            # it connects (PEP 249) and Django on again, two statements more per connection.
            "autocommit": True,
        }
        database["TEST"] = {"NAME": test_name}
    else:
        database["OPTIONS"] = {"init_command": "PRAGMA query_only = ON", "timeout": 5}
        database["TEST"] = {"NAME": test_name}
    return database


# The demo network (DEMO_LIBRARIES): the second branch keeps eastern Indonesia's time.
DEMO_OTHER_ZONE = "Asia/Jayapura"


def demo_network(count: int, first: Path) -> list[Library]:
    """DEMO_LIBRARIES=n: the embedded demo library and n-1 demo branches beside it, one SQLite
    file each (seed_demo fills each with its own size; demo.live opens each at its own hour)."""
    libraries = [Library(DEFAULT_SLUG, "Demo library", {"ENGINE": SQLITE, "NAME": str(first)},
                         None, None)]  # fmt: skip
    for number in range(2, count + 1):
        database = {"ENGINE": SQLITE, "NAME": str(first.with_name(f"demo-branch-{number}.sqlite3"))}
        zone = DEMO_OTHER_ZONE if number == 2 else None
        libraries.append(Library(f"branch-{number}", f"Demo branch {number}", database, zone, None))
    return libraries


def check_sources(path: Path) -> None:
    """LIBRARIES_FILE replaces LIBRARY_DATABASE_URL: both set is a mistake to refuse."""
    if env_str("LIBRARY_DATABASE_URL") or mysql_url_from_parts():
        raise ImproperlyConfigured(
            f"LIBRARIES_FILE ({path}) and LIBRARY_DATABASE_URL (or MYSQL_HOST) both name "
            "library databases: unset one"
        )
