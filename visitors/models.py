"""SLiMS's visitor_count table: one row per check-in at the library."""

from django.db import models

from config.library import LibraryModel
from metrics_cache.rollups.models import BreakdownRollup, DayRollup, TallyRollup


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


class VisitHour(models.Model):
    """Visits per local day, hour, room and audience (the reports' breakdowns). `room_code` is
    the code as SLiMS's case-insensitive collation compares it (upper case, trailing spaces
    dropped), '' with `has_room` False for a visit recorded without a room (a NULL, kept apart
    from a code of '' so the unique constraint can hold it)."""

    generation = models.PositiveIntegerField()
    day = models.DateField()
    weekday = models.PositiveSmallIntegerField(help_text="1 = Monday … 7 = Sunday")
    hour = models.PositiveSmallIntegerField()
    has_room = models.BooleanField()
    room_code = models.CharField(max_length=5, blank=True)
    guest = models.BooleanField()
    total = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "day", "weekday", "hour", "has_room", "room_code", "guest"],
                name="visit_hour_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h {self.room_code or '-'}: {self.total}"


class VisitorRoom(LibraryModel):
    """SLiMS 9.6's rooms of the entrance kiosks (visitor_count.room_code holds unique_code)."""

    # Read only for the reports' names: a SLiMS without it still serves everything else.
    reports_only = True

    unique_code = models.CharField(max_length=5, primary_key=True)
    name = models.CharField(max_length=50)

    class Meta:
        managed = False
        db_table = "mst_visitor_room"

    def __str__(self) -> str:
        return self.name


class VisitHourMonth(models.Model):
    """VisitHour summed per month (`month` is its 1st): reports over long periods read whole
    months here and only their edge days in VisitHour."""

    generation = models.PositiveIntegerField()
    month = models.DateField()
    weekday = models.PositiveSmallIntegerField()
    hour = models.PositiveSmallIntegerField()
    has_room = models.BooleanField()
    room_code = models.CharField(max_length=5, blank=True)
    guest = models.BooleanField()
    total = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "month", "weekday", "hour", "has_room", "room_code", "guest"],
                name="visit_hour_month_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.hour:02d}h {self.room_code or '-'}: {self.total}"


class VisitMemberDay(models.Model):
    """Visits of one member (the library collation's key of member_id) on one local day: the
    reports group them by the member's type now (books.MemberCopy)."""

    generation = models.PositiveIntegerField()
    day = models.DateField()
    # Never NULL; declared nullable so that reading through it is an outer join (a member
    # whose row is gone still counts, under no type).
    member = models.ForeignKey(
        "books.MemberCopy", null=True, db_column="member_key", db_constraint=False,
        db_index=False, on_delete=models.DO_NOTHING, related_name="+",
    )  # fmt: skip
    total = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "day", "member"], name="visit_member_day_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.member_id}: {self.total}"


class VisitBreakdown(BreakdownRollup):
    """Members' visits per local day by what the member is now (metrics_cache.reports)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "day", "dimension", "value"], name="visit_breakdown_once"
            )
        ]
        indexes = [
            models.Index(fields=["generation", "dimension", "day"], name="visit_breakdown_read")
        ]
