"""System checks for what an operator can get wrong (ids are stable: libdash.*)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from config.library import LIBRARY_ALIAS


@register()
def configuration_checks(app_configs=None, **kwargs):
    problems = []
    if settings.TODAY_COUNT_MODE == "incremental" and not settings.TODAY_INCREMENT_TOKEN:
        problems.append(
            Warning(
                "TODAY_COUNT_MODE=incremental but TODAY_INCREMENT_TOKEN is unset: kiosks "
                "cannot report check-ins, so the count changes only at each exact recount.",
                hint="Set TODAY_INCREMENT_TOKEN to a long random string shared with the kiosks.",
                id="libdash.W001",
            )
        )
    if settings.MEMBER_DETAILS == "full":
        problems.append(
            Warning(
                "MEMBER_DETAILS=full shows member names and ids to anonymous requests.",
                hint="Personal data (UU PDP 2022): prefer 'masked' unless the API is internal.",
                id="libdash.W002",
            )
        )
    return problems


@register(Tags.database)
def library_tables_check(app_configs=None, databases=None, **kwargs):
    """Runs with `manage.py check --database library`: the tables and columns the service reads."""
    if not databases or LIBRARY_ALIAS not in databases:
        return []
    from metrics_cache.doctor import examine

    report = examine(explain=False)
    return [
        Error(finding.message, hint="manage.py doctor explains what is missing", id="libdash.E001")
        for finding in report.errors
    ]
