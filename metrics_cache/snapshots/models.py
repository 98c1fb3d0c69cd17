"""The service's own record of each snapshot: timings, rows, and the last good payload."""

from django.db import models


class SnapshotRecord(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    metric = models.CharField(max_length=64, unique=True)
    # The library database the payload describes (config.library.library_fingerprint).
    library = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    generated_at = models.DateTimeField(null=True, blank=True, help_text="of the last good run")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The last good envelope exactly as served, so a flushed Redis refills without SLiMS.
    payload = models.TextField(blank=True)

    class Meta:
        ordering = ["metric"]

    def __str__(self) -> str:
        return self.metric
