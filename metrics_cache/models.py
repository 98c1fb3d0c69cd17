"""The app's models, each defined in its room (Django finds an app's models here)."""

from metrics_cache.reports.models import LookupCopy, LookupName
from metrics_cache.rollups.models import RollupState, RollupVerification
from metrics_cache.snapshots.models import SnapshotRecord

__all__ = ["LookupCopy", "LookupName", "RollupState", "RollupVerification", "SnapshotRecord"]
