"""Admin: when each SLiMS table the reports read was last copied, how many rows, and why not."""

from __future__ import annotations

from django.contrib import admin

from metrics_cache.reports.models import LookupCopy


@admin.register(LookupCopy)
class LookupCopyAdmin(admin.ModelAdmin):
    """The copies of SLiMS's names and of member, item and biblio (read-only: the jobs own
    them); an error names the GRANT that would fix it."""

    list_display = ["table", "kind", "rows", "copied_at", "changed_at", "error"]
    readonly_fields = [*list_display, "changes"]
    ordering = ["table"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
