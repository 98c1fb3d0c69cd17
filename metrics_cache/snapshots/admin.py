"""Admin: each snapshot's age at a glance, stale ones highlighted, and a refresh action."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from metrics_cache.base import keys
from metrics_cache.snapshots.models import SnapshotRecord
from metrics_cache.snapshots.tasks import refresh_metric


def stale_before():
    return timezone.now() - timedelta(seconds=keys.STALE_AFTER_SECONDS)


class StalenessFilter(admin.SimpleListFilter):
    title = "staleness"
    parameter_name = "stale"

    def lookups(self, request, model_admin):
        return [("yes", "stale (older than 30 h)"), ("no", "fresh")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(generated_at__gte=stale_before())
        if self.value() == "no":
            return queryset.filter(generated_at__gte=stale_before())
        return queryset


@admin.register(SnapshotRecord)
class SnapshotRecordAdmin(admin.ModelAdmin):
    list_display = ["metric", "age", "generated_at", "status", "duration_ms", "rows", "stale"]
    list_filter = ["status", StalenessFilter]
    readonly_fields = [f.name for f in SnapshotRecord._meta.fields]
    actions = ["refresh_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="age", ordering="generated_at")
    def age(self, record: SnapshotRecord) -> str:
        return f"{timesince(record.generated_at)} ago" if record.generated_at else "never"

    @admin.display(description="stale", boolean=False)
    def stale(self, record: SnapshotRecord):
        if record.generated_at is None or record.generated_at < stale_before():
            return format_html('<strong style="color:#b00020">{}</strong>', "stale")
        return "fresh"

    @admin.action(description="Refresh now (queue a recompute)")
    def refresh_now(self, request, queryset):
        for record in queryset:
            refresh_metric.apply_async(args=[record.metric], kwargs={"force": True})
        self.message_user(request, f"Queued {queryset.count()} refresh(es).", messages.SUCCESS)
