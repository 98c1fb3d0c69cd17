"""The reports' Celery task: the copy of SLiMS's lookup tables."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from metrics_cache.operations.breaker import unless_unreachable
from metrics_cache.reports.catalog import after_folds, copy_lookups


@shared_task(name="metrics_cache.copy_report_lookups", ignore_result=True, time_limit=120)
@unless_unreachable
def copy_report_lookups() -> dict[str, str]:
    """Copies the names of rooms, member types, collection types and locations (a few dozen
    rows each); {table: "" or why it could not be read}."""
    return copy_lookups()


# While the rollups' first build runs, the circulation is asked again this often, so the
# figures appear as soon as the build is over rather than at the next scheduled run.
WAIT_FOR_BUILD_SECONDS = 10


@shared_task(name="metrics_cache.refresh_circulation", ignore_result=True, time_limit=120)
@unless_unreachable
def refresh_circulation(*, until_built: bool = False) -> str:
    """Counts the stale days' breakdowns again and re-reads the open loans by primary key
    (returns, renewals, deletions): every few minutes, after the fold of new loans; at
    start-up (`until_built`) again and again until the rollups' first build is over."""
    if after_folds(timezone.localdate()):
        return "refreshed"
    if until_built:
        refresh_circulation.apply_async(
            kwargs={"until_built": True}, countdown=WAIT_FOR_BUILD_SECONDS
        )
    return "building"
