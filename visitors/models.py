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
