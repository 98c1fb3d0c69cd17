"""System checks for what an operator can get wrong (ids are stable: libdash.*)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning

from config.library import LIBRARY_ALIAS
from metrics_cache.operations.doctor import examine
from metrics_cache.today import modes


def configuration_checks(app_configs=None, **kwargs):
    """Registered in MetricsCacheConfig.ready()."""
    problems = list(modes.configured().problems())
    if settings.MEMBER_DETAILS == "full":
        problems.append(
            Warning(
                "MEMBER_DETAILS=full shows member names and ids to anonymous requests.",
                hint="Personal data (UU PDP 2022): prefer 'masked' unless the API is internal.",
                id="libdash.W002",
            )
        )
    return problems


def library_tables_check(app_configs=None, databases=None, **kwargs):
    """Runs with `manage.py check --database library`: the tables and columns the service reads
    (registered with the database tag in MetricsCacheConfig.ready())."""
    if not databases or LIBRARY_ALIAS not in databases:
        return []
    report = examine(explain=False)
    return [
        Error(finding.message, hint="manage.py doctor explains what is missing", id="libdash.E001")
        for finding in report.errors
    ]
