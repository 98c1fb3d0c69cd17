"""SLiMS's visitor_count table: one row per check-in at the library."""

from django.db import models

from config.library import LibraryModel


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
class VisitDay(models.Model):
    """Visits per local day, and the id range of the rows counted (an exact recount of a day
    reads only that primary-key range)."""

    generation = models.PositiveIntegerField()
    day = models.DateField()
    total = models.PositiveIntegerField(default=0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "day"], name="visit_day_once")]

    def __str__(self) -> str:
        return f"{self.day}: {self.total}"


class VisitorTally(models.Model):
    """Visits of one visitor in one bucket: a year, or a day of the current month or later
    (metrics_cache.rollups). A year bucket's details come from its visits without a day
    bucket; all None when it has none."""

    generation = models.PositiveIntegerField()
    grain = models.CharField(max_length=1)  # D | M | Y
    bucket = models.DateField()
    # Equal for two visitors exactly when the library database's collation groups them:
    # "m:" + member id, or "g:" + name and institution (metrics_cache.rollups.CollationKey).
    key = models.CharField(max_length=42)
    member_id = models.CharField(max_length=20, null=True)
    # Of the latest visit in the bucket.
    member_name = models.CharField(max_length=255, null=True)
    institution = models.CharField(max_length=100, null=True)
    last_checkin = models.DateTimeField(null=True)
    last_visitor_id = models.BigIntegerField(null=True)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "grain", "bucket", "key"], name="visitor_tally_once"
            )
        ]
        # Rankings walk a bucket's running totals best first (metrics_cache.rollups.top_totals).
        indexes = [
            models.Index(
                fields=["generation", "grain", "bucket", "-total"], name="visitor_tally_ranked"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.grain}{self.bucket}: {self.total}"
