"""SLiMS's visitor_count table: one row per check-in at the library."""

from django.db import models

from config.library import LibraryModel
from metrics_cache.rollups.models import DayRollup, TallyRollup


class Visit(LibraryModel):
    # Grows with time, but not strictly with checkin_date (manual entries, clock changes).
    visitor_id = models.AutoField(primary_key=True)
    # NULL or '' for visitors who are not members.
    member_id = models.CharField(max_length=20, null=True, blank=True)
    member_name = models.CharField(max_length=255)
    institution = models.CharField(max_length=100, null=True, blank=True)
    room_code = models.CharField(max_length=5, null=True, blank=True)
    # Naive local time in LIBRARY_TIME_ZONE; SLiMS ships no index on it.
    checkin_date = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "visitor_count"

    def __str__(self) -> str:
        return f"{self.member_name} at {self.checkin_date}"


# --- Rollups: the service's own tables (managed, in `default`), folded from visitor_count ----
class VisitDay(DayRollup):
    """Visits per local day."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "day"], name="visit_day_once")]


class VisitorTally(TallyRollup):
    """Visits of one visitor in one bucket: a year, or a day of the current month or later. A
    year bucket's details come from its visits without a day bucket; all None when it has none.
    The key is equal for two visitors exactly when the library database's collation groups
    them: "m:" + member id, or "g:" + name and institution."""

    member_id = models.CharField(max_length=20, null=True)
    # Of the latest visit in the bucket.
    member_name = models.CharField(max_length=255, null=True)
    institution = models.CharField(max_length=100, null=True)
    last_checkin = models.DateTimeField(null=True)
    last_visitor_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "grain", "bucket", "key"], name="visitor_tally_once"
            )
        ]
        # Rankings walk a bucket's running totals best first (rollups.reads.top_totals).
        indexes = [
            models.Index(
                fields=["generation", "grain", "bucket", "-total"], name="visitor_tally_ranked"
            )
        ]
