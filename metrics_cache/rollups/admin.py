"""Admin: how far each SLiMS table is folded, and what the weekly drift checks found."""

from __future__ import annotations

from django.contrib import admin

from metrics_cache.rollups.models import RollupState, RollupVerification


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
