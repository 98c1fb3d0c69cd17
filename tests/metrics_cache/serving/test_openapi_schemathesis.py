"""schemathesis over the whole documented API: no input makes it answer 5xx."""

from __future__ import annotations

from io import StringIO

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.support.library import library_test

pytestmark = library_test


@pytest.fixture
def api_schema(library, django_db_blocker):
    from django.core.wsgi import get_wsgi_application

    call_command("prewarm", stdout=StringIO())
    return schemathesis.openapi.from_wsgi("/docs/json", get_wsgi_application())


api = schemathesis.pytest.from_fixture("api_schema")


@api.exclude(path="/api/visitors/today/stream").parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_anywhere_in_the_api(case):
    case.call_and_validate(checks=[not_a_server_error])
