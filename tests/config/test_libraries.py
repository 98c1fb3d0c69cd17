"""LIBRARIES_FILE: a TOML file naming the library; every way it can be wrong stops the process
at start-up with the file, the line and the problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.libraries import LibrariesFileError, read

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
# the district's first school library
[libraries.sman3-bandung]
name = "SMA Negeri 3 Bandung"
database_url = "mysql://dashboard:secret@10.1.2.3:3306/slims"
time_zone = "Asia/Makassar"
count_mode = "direct"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "libraries.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_library_with_its_database_time_zone_and_count_mode(tmp_path):
    (library,) = read(write(tmp_path, GOOD))
    assert (library.slug, library.name) == ("sman3-bandung", "SMA Negeri 3 Bandung")
    assert library.database["ENGINE"] == "django.db.backends.mysql"
    assert (library.database["HOST"], library.database["PORT"]) == ("10.1.2.3", 3306)
    assert (library.database["NAME"], library.database["USER"]) == ("slims", "dashboard")
    assert (library.time_zone, library.count_mode) == ("Asia/Makassar", "direct")


def test_optional_keys_left_out_and_libraries_kept_in_the_file_s_order(tmp_path):
    text = """\
[libraries.b-2]
name = "Two"
database_url = "sqlite:///two.sqlite3"

[libraries.a-1]
name = "One"
database_url = "mariadb://root@127.0.0.1/one"
"""
    libraries = read(write(tmp_path, text))
    assert [lib.slug for lib in libraries] == ["b-2", "a-1"]
    assert (libraries[0].time_zone, libraries[0].count_mode) == (None, None)
    assert libraries[1].database["ENGINE"] == "django.db.backends.mysql"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD + "name = \n", 7, "Invalid value"),
        (GOOD + "\n[libraries.sman3-bandung]\nname = \"Again\"\n", 8, "twice"),
        (GOOD.replace("sman3-bandung", "SMAN3"), 2, "'SMAN3': a slug is 1 to 40 of a-z"),
        (GOOD.replace("sman3-bandung", '"sman 3"'), 2, "'sman 3': a slug is"),
        (GOOD.replace("sman3-bandung", "a" * 41), 2, "a slug is 1 to 40"),
        (GOOD.replace('database_url = "mysql://dashboard:secret@10.1.2.3:3306/slims"\n', ""), 2,
         "database_url is missing or empty"),
        (GOOD.replace('name = "SMA Negeri 3 Bandung"', 'name = "  "'), 3,
         "name is missing or empty"),
        (GOOD.replace("mysql://dashboard", "postgres://dashboard"), 4,
         "database_url is not valid: expected sqlite:///"),
        (GOOD.replace(":3306/", ":port/"), 4, "database_url is not valid"),
        (GOOD.replace("/slims", "/"), 4, "a URL that names the database"),
        (GOOD.replace("Asia/Makassar", "Asia/Atlantis"), 5, "'Asia/Atlantis' is not an IANA"),
        (GOOD.replace('"direct"', '"fast"'), 6, "'fast' is not one of direct, delta"),
        (GOOD.replace('"direct"', "1"), 6, "count_mode must be a string"),
        (GOOD + 'password = "x"\n', 7, "unknown key 'password'"),
    ],
)  # fmt: skip
def test_each_problem_names_the_file_the_line_and_what_is_wrong(tmp_path, text, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(LibrariesFileError) as raised:
        read(path)
    message = str(raised.value)
    assert message.startswith(f"LIBRARIES_FILE {path}, line {line}: ")
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no library"),
        ("[libraries]\n", "no library"),
        ("[library.a]\nname = 'A'\n", "unknown table 'library'"),
        ("[libraries]\na = 1\n", "library 'a': expected a table"),
    ],
)
def test_a_file_without_a_library_table_says_what_to_write(tmp_path, text, problem):
    with pytest.raises(LibrariesFileError, match=problem):
        read(write(tmp_path, text))


def test_a_file_that_cannot_be_read(tmp_path):
    with pytest.raises(LibrariesFileError, match=r"absent\.toml: cannot be read"):
        read(tmp_path / "absent.toml")
    (tmp_path / "latin1.toml").write_bytes(b"[libraries.a]\nname = '\xe9'\n")
    with pytest.raises(LibrariesFileError, match="cannot be read"):
        read(tmp_path / "latin1.toml")


def start(*command: str, **env: str) -> subprocess.CompletedProcess:
    named = ("LIBRARY_DATABASE_URL", "MYSQL_HOST", "MYSQL_DATABASE")
    environment = {k: v for k, v in os.environ.items() if k not in named}
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


SETTINGS = (
    "-c",
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.DATABASES['library']['NAME'], s.DATABASES['library']['HOST'], "
    "s.LIBRARY_TIME_ZONE, s.TIME_ZONE, s.TODAY_COUNT_MODE, s.LIBRARY_NAME, "
    "s.LIBRARY_IS_EMBEDDED, s.DATABASES['library']['OPTIONS']['init_command']]))",
)


SEVERAL = (
    "-c",
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([[l.slug, l.alias, l.service_alias] for l in s.LIBRARIES] + "
    "[s.DATABASES['library-smp1']['NAME'], s.DATABASES['library-smp1']['TIME_ZONE'], "
    "s.DATABASES['service-smp1']['NAME'].rsplit('/', 1)[-1], s.LIBRARIES_UNPREFIXED]))",
)


def test_every_library_of_the_file_has_its_own_databases(tmp_path):
    """The first library (none is named default) is read through `library` and keeps its
    tables in `default`; every other has its own pair, in its own zone."""
    text = GOOD + '[libraries.smp1]\nname = "SMP 1"\ndatabase_url = "sqlite:///x.db"\n'
    result = start(*SEVERAL, LIBRARIES_FILE=str(write(tmp_path, text)), DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        ["sman3-bandung", "library", "default"], ["smp1", "library-smp1", "service-smp1"],
        "x.db", "Asia/Jakarta", "app-smp1.sqlite3", False,
    ]  # fmt: skip


def test_the_file_s_one_library_is_the_library_served(tmp_path):
    result = start(*SETTINGS, LIBRARIES_FILE=str(write(tmp_path, GOOD)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "slims", "10.1.2.3", "Asia/Makassar", "Asia/Makassar", "direct",
        "SMA Negeri 3 Bandung", False,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "env", "problem"),
    [
        (GOOD.replace('"direct"', '"fast"'), {}, ", line 6: library 'sman3-bandung': count_mode"),
        (GOOD + '[libraries.smp1]\nname = "SMP 1"\ndatabase_url = "sqlite:///x.db"\n'
         '[libraries.smp1]\nname = "again"\n', {}, ", line 10: Cannot declare ('libraries', "
         "'smp1') twice"),
        (GOOD, {"LIBRARY_DATABASE_URL": "mysql://root@localhost/slims"},
         "and LIBRARY_DATABASE_URL (or MYSQL_HOST) both name library databases"),
    ],
    ids=["malformed", "duplicate", "two-sources"],
)  # fmt: skip
@pytest.mark.parametrize("command", [SETTINGS, ("manage.py", "check")], ids=["start", "check"])
def test_a_file_that_cannot_be_served_stops_every_process(tmp_path, text, env, problem, command):
    result = start(*command, LIBRARIES_FILE=str(write(tmp_path, text)), **env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert ("ImproperlyConfigured" in last or "LibrariesFileError" in last) and problem in last
