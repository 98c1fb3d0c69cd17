"""manage.py report writes the same bytes as the API, and refuses bad input with the option's
name."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_the_command_writes_the_bytes_the_api_serves(library, tmp_path, fmt):
    library.visit("2026-11-02 08:15:00", member_id="M1", room="R1")
    library.visit("2025-11-02 08:15:00", member_id=None)
    with at(2026, 12, 5, 11, 0):
        build()
        params = {"from": "2026-11-01", "to": "2026-11-30", "by": "week",
                  "compare": "previous_year", "format": fmt}  # fmt: skip
        served = Client().get("/api/reports/visits", params).content
        out = tmp_path / f"report.{fmt}"
        call_command(
            "report", "visits", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "week",
            "--compare", "previous_year", "--format", fmt, "--output", str(out),
        )  # fmt: skip
    assert out.read_bytes() == served


def test_the_command_names_the_bad_option(library):
    with at(2026, 12, 5, 11, 0):
        build()
        with pytest.raises(CommandError, match="--by"):
            call_command("report", "visits", "--by", "minute")
        with pytest.raises(CommandError, match="no report 'books'"):
            call_command("report", "books")


def test_the_command_says_when_the_rollups_are_still_building(library):
    with at(2026, 12, 5, 11, 0), pytest.raises(CommandError, match="still being built"):
        call_command("report", "loans")
