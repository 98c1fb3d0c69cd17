"""manage.py prewarm: compute snapshots now and print how each went."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from metrics_cache.management.libraries import LibraryCommand
from metrics_cache.snapshots import refresh
from metrics_cache.snapshots.registry import BY_NAME, METRICS
from metrics_cache.snapshots.tasks import refresh_metric


class Command(LibraryCommand):
    help = "Compute snapshots from the library database now (all, or --only NAME ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(BY_NAME))
        parser.add_argument("--async", action="store_true", dest="run_async",
                            help="queue the refreshes on the Celery worker instead")  # fmt: skip

    def handle_library(self, *args, only=None, run_async=False, **options) -> None:
        names = only or [metric.name for metric in METRICS]
        if run_async:
            for name in names:
                refresh_metric.apply_async(args=[name], kwargs={"force": True})
            self.stdout.write(f"Queued {len(names)} refresh(es): {', '.join(names)}")
            return
        results = refresh.refresh(names, force=True)
        self.stdout.write(f"{'metric':<22}{'rows':>6}{'ms':>9}  status")
        for result in results:
            rows = "-" if result.rows is None else str(result.rows)
            line = f"{result.metric:<22}{rows:>6}{result.duration_ms:>9}  {result.status}"
            if result.error:
                line += f"  {result.error}"
            self.stdout.write(line)
        failed = [result.metric for result in results if result.status == "failed"]
        if failed:
            raise CommandError(f"{len(failed)} metric(s) failed: {', '.join(failed)}")
