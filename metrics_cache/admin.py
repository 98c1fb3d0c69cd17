"""The app's admin pages, each defined in its room (Django's autodiscovery imports this)."""

from metrics_cache.reports import admin as reports_admin
from metrics_cache.rollups import admin as rollups_admin
from metrics_cache.snapshots import admin as snapshots_admin

__all__ = ["reports_admin", "rollups_admin", "snapshots_admin"]
