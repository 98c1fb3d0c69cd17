"""manage.py report: a report as the API gives it (the same bytes), to a file or stdout."""

from __future__ import annotations

import sys

from django.core.management.base import CommandError
from django.utils import timezone, translation

from metrics_cache.management.libraries import LibraryCommand
from metrics_cache.reports import params
from metrics_cache.reports.answers import Building, annual_answer, answer, circulation_answer
from metrics_cache.reports.catalog import reports, sources
from metrics_cache.serving.report_views import render


class Command(LibraryCommand):
    every_library_by_default = False

    help = (
        "Write a report (visits, loans, annual, circulation) as JSON, CSV or XLSX: the same "
        "bytes as /api/reports/<report> with the same parameters."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("report", help="visits, loans, annual or circulation")
        parser.add_argument("--year", help="annual: the year (default: this year)")
        parser.add_argument("--from", dest="from", help="first day, YYYY-MM-DD")
        parser.add_argument("--to", help="last day, YYYY-MM-DD (yesterday at the latest)")
        parser.add_argument("--by", help="day, week, month, year, hour, weekday, ...")
        parser.add_argument("--compare", help="previous_year")
        parser.add_argument("--format", help="json (default), csv or xlsx")
        parser.add_argument("--language", default="en", help="XLSX headers: en or id")
        parser.add_argument("--output", help="file to write (default: stdout)")

    def handle_library(self, *args, **options):
        name = options["report"]
        names = [*reports(), "annual", "circulation"]
        if name not in names:
            raise CommandError(f"no report {name!r}; one of {', '.join(names)}")
        given = {
            option: options[option]
            for option in ("from", "to", "by", "compare", "format", "year")
            if options[option] is not None
        }
        today = timezone.localdate()
        try:
            if name == "annual":
                query = params.parse_annual(given, today)
                fmt, result = query.format, annual_answer(query, today, sources())
            elif name == "circulation":
                fmt = params.parse_format(given)
                result = circulation_answer()
            else:
                query = params.parse(reports()[name], given, today)
                fmt, result = query.format, answer(query)
        except params.BadParameter as exc:
            raise CommandError(f"--{exc.name}: {exc}") from None
        if isinstance(result, Building):
            raise CommandError(
                f"the rollups are still being built ({result.progress:.0%}); try again later"
            )
        with translation.override(options["language"]):
            content = render(result, fmt)
        if options["output"]:
            with open(options["output"], "wb") as out:
                out.write(content)
        else:
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
