"""manage.py recount_today: the exact count now; restarts the mode's state and pushes it."""

from __future__ import annotations

from django.utils import timezone

from metrics_cache.management.libraries import LibraryCommand
from metrics_cache.today import loop, modes


class Command(LibraryCommand):
    help = "Count today's visits exactly, reset the fast loop's state, store and push the figure."

    def handle_library(self, *args, **options) -> None:
        day = timezone.localdate()
        old, result = loop.recount(day)
        before = "unknown" if old is None else str(old["total"])
        self.stdout.write(f"{day} ({modes.configured().name} mode): {before} → {result.total}")
