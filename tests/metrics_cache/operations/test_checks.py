"""The system checks: what an operator can get wrong, reported by id."""

from __future__ import annotations

from django.core.checks import run_checks

from tests.support.library import library_test

pytestmark = library_test


def test_database_check_reports_missing_tables(scratch_library):
    errors = run_checks(databases=["library"])
    assert any(e.id == "libdash.E001" and "visitor_count" in e.msg for e in errors)


def test_configuration_warnings(library, settings):
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = None
    settings.MEMBER_DETAILS = "full"
    ids = {message.id for message in run_checks()}
    assert {"libdash.W001", "libdash.W002"} <= ids
