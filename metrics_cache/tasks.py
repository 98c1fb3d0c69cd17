"""Celery's autodiscovery reads each app's `tasks` module: here, the rooms' tasks."""

from metrics_cache.operations.tasks import resend_lost_messages
from metrics_cache.reports.tasks import copy_report_lookups, refresh_circulation
from metrics_cache.rollups.tasks import fold_rollups, verify_rollups
from metrics_cache.snapshots.tasks import prewarm, refresh_group, refresh_metric
from metrics_cache.today.tasks import (
    reconcile_today,
    reconcile_today_group,
    sync_today,
    sync_today_group,
)

__all__ = [
    "copy_report_lookups",
    "fold_rollups",
    "prewarm",
    "reconcile_today",
    "reconcile_today_group",
    "refresh_circulation",
    "refresh_group",
    "refresh_metric",
    "resend_lost_messages",
    "sync_today",
    "sync_today_group",
    "verify_rollups",
]
