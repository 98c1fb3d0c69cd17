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
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    COUNT_MODES,
    database_config,
    env_str,
    mysql_url_from_parts,
    time_zone_or_none,
)

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
    name: str
    database: dict  # a Django DATABASES entry, from database_url
    time_zone: str | None  # None: LIBRARY_TIME_ZONE
    count_mode: str | None  # None: TODAY_COUNT_MODE


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


def the_one_library(path: Path) -> Library:
    """The library a deployment serves from the file: this release serves one, so a file
    listing several, or set beside LIBRARY_DATABASE_URL, stops the process."""
    libraries = read(path)
    if len(libraries) > 1:
        raise LibrariesFileError(
            path,
            None,
            f"lists {len(libraries)} libraries ({', '.join(lib.slug for lib in libraries)}); "
            "this release serves one library per deployment: keep one [libraries.<slug>] table",
        )
    if env_str("LIBRARY_DATABASE_URL") or mysql_url_from_parts():
        raise ImproperlyConfigured(
            "LIBRARIES_FILE and LIBRARY_DATABASE_URL (or MYSQL_HOST) both name the library "
            "database: unset one"
        )
    return libraries[0]
