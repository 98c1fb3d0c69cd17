"""manage.py doctor: what will be slow or wrong on the library database; changes nothing."""

from __future__ import annotations

from django.core.management.base import CommandError

from metrics_cache.management.libraries import LibraryCommand
from metrics_cache.operations.doctor import examine


class Command(LibraryCommand):
    help = (
        "Check the SLiMS database the service reads: tables, columns, indexes on the date "
        "columns, engines and row counts, and the EXPLAIN of each scheduled query. Read-only."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN plans")

    def handle_library(self, *args, no_explain=False, **options):
        report = examine(explain=not no_explain)
        out = self.stdout
        if report.tables:
            out.write("Tables")
            for table, engine, rows in report.tables:
                count = "?" if rows is None else f"{rows:,}"
                out.write(f"  {table:<14} {engine:<8} {count:>12} rows")
        style = {"error": self.style.ERROR, "warning": self.style.WARNING}
        for finding in report.findings:
            out.write(style.get(finding.level, str)(f"{finding.level.upper()}: {finding.message}"))
            if finding.fix:
                out.write(f"  Fix (for a DBA): {finding.fix}")
        for metric, plan in report.explains:
            out.write(f"\nEXPLAIN {metric}:\n{plan}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} problem(s) stop the service from working")
        out.write(self.style.SUCCESS("\nThe library database has what the service needs."))
