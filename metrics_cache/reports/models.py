"""The service's copy of SLiMS's small lookup tables (names of rooms, member types, collection
types and locations), so that reports never read SLiMS in a request."""

from django.db import models


class LookupName(models.Model):
    """One code's name in one lookup table, as last copied."""

    kind = models.CharField(max_length=16)  # room | member_type | coll_type | location
    code = models.CharField(max_length=20)
    # NULL where SLiMS has none (mst_location.location_name is NULLable).
    name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="lookup_name_once")]
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}: {self.name}"


class LookupCopy(models.Model):
    """When a lookup table was last copied, and why not when it could not be (a table missing,
    or not granted to the service's user)."""

    kind = models.CharField(max_length=16, primary_key=True)
    table = models.CharField(max_length=64)
    copied_at = models.DateTimeField(null=True, blank=True)
    # When the copied names last changed, and how many times: the reports' caches are keyed
    # by the sum of every table's count.
    changed_at = models.DateTimeField(null=True, blank=True)
    changes = models.PositiveIntegerField(default=0)
    # A digest of the rows last copied (a copy of a big table is compared by it).
    checksum = models.CharField(max_length=40, blank=True)
    rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.table}: {self.error or self.rows}"
