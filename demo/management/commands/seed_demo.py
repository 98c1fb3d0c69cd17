"""manage.py seed_demo: create and fill a demo SLiMS library (never over an existing one)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.library import LIBRARY_ALIAS, all_libraries, serving, time_zone
from demo.generator import DemoSize
from demo.schema import MAIN_TABLES, SLIMS_TABLES
from demo.seeding import LibraryNotEmpty, TableResult, existing_tables, is_demo_library, seed
from demo.writer import library_writer


class Command(BaseCommand):
    help = (
        "Create the five SLiMS tables (visitor_count, loan, item, biblio, member) in the library "
        "database and fill them with a synthetic library. Refuses a database that already has "
        "them unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = DemoSize()
        for name in ("visitors", "members", "titles", "items", "loans", "years"):
            parser.add_argument(
                f"--{name}", type=_positive_int, default=getattr(defaults, name), metavar="N"
            )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
        parser.add_argument(
            "--now",
            type=_local_datetime,
            help="generate data up to this local time (YYYY-MM-DDTHH:MM[:SS]); default: now",
        )
        parser.add_argument("--batch-size", type=_positive_int, default=10_000)
        parser.add_argument(
            "--force", action="store_true", help="drop and replace existing SLiMS tables"
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing when the SLiMS tables already exist (used at first start)",
        )
        parser.add_argument(
            "--database",
            help=f"default {LIBRARY_ALIAS}; with DEMO_LIBRARIES, every demo library's",
        )

    def handle(self, *args, **options) -> None:
        size = DemoSize(**{k: options[k] for k in DemoSize.__dataclass_fields__})
        if options["database"] is not None:
            return self._seed(options["database"], size, options)
        # The demo network: each library its own size (the first the full one) and zone.
        for index, library in enumerate(all_libraries() if settings.LIBRARY_IS_EMBEDDED else []):
            with serving(library):
                self._seed(library.alias, size.scaled(1 / (index + 1)), options)
        if not settings.LIBRARY_IS_EMBEDDED:
            self._seed(LIBRARY_ALIAS, size, options)
        return None

    def _seed(self, alias: str, size: DemoSize, options: dict) -> None:
        now = options["now"] or timezone.localtime().replace(tzinfo=None)
        with library_writer(alias) as connection:
            name = connection.settings_dict["NAME"]
            force = options["force"]
            if options["if_missing"]:
                found = set(existing_tables(connection))
                older_demo = set(MAIN_TABLES) <= found and is_demo_library(connection)
                if found == set(SLIMS_TABLES) or (set(MAIN_TABLES) <= found and not older_demo):
                    self.stdout.write(f"Demo library already present in {name}.")
                    return
                if older_demo:
                    # Seeded by a release before the reports: its tables lack their names.
                    self.stdout.write("The demo library predates the reports: seeding it again.")
                    force = True
            self.stdout.write(
                f"Seeding a demo library into {name} ({connection.vendor}), "
                f"{size.visitors:,} visits over {size.years} years up to {now:%Y-%m-%d %H:%M} "
                f"{time_zone()}, seed {options['seed']}."
            )
            try:
                results = seed(
                    connection,
                    size=size,
                    seed=options["seed"],
                    now=now,
                    force=force,
                    batch=options["batch_size"],
                    progress=self._report,
                )
            except LibraryNotEmpty as exc:
                raise CommandError(str(exc)) from None
        total = sum(r.seconds for r in results)
        self.stdout.write(self.style.SUCCESS(f"Demo library ready in {total:.1f} s."))

    def _report(self, result: TableResult) -> None:
        rate = result.rows / result.seconds if result.seconds else 0
        self.stdout.write(
            f"  {result.table:<14} {result.rows:>10,} rows {result.seconds:8.1f} s "
            f"({rate:,.0f} rows/s)"
        )


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _local_datetime(raw: str) -> datetime:
    return datetime.fromisoformat(raw).replace(tzinfo=None)
