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


def test_incremental_mode_without_a_token_is_explained_to_the_operator(library, settings):
    """`manage.py check` tells the operator what is wrong and what to set, in those words."""
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = None
    (warning,) = [message for message in run_checks() if message.id == "libdash.W001"]
    assert warning.msg == (
        "TODAY_COUNT_MODE=incremental but TODAY_INCREMENT_TOKEN is unset: kiosks cannot report "
        "check-ins, so the count changes only at each exact recount."
    )
    assert warning.hint == (
        "Set TODAY_INCREMENT_TOKEN to a long random string shared with the kiosks."
    )
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"
    assert "libdash.W001" not in {message.id for message in run_checks()}
