"""Admin: each snapshot's age at a glance, stale ones highlighted, and a refresh action."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from metrics_cache import keys
from metrics_cache.models import RollupState, RollupVerification, SnapshotRecord
from metrics_cache.tasks import refresh_metric


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


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    """How far each SLiMS table is folded into the rollups (read-only: the jobs own it)."""

    list_display = ["source", "generation", "live", "last_id", "progress", "built_at",
                    "rows_folded", "longest_statement_ms", "updated_at"]  # fmt: skip
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RollupVerification)
class RollupVerificationAdmin(admin.ModelAdmin):
    """The weekly drift checks: what the recomputed rollups found different."""

    list_display = ["source", "started_at", "finished_at", "status", "rows_scanned",
                    "days_differing", "tallies_differing", "total_before",
                    "total_after"]  # fmt: skip
    readonly_fields = [*list_display, "watermark", "examples"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
