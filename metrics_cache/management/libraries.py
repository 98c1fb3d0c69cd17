"""Management commands run for one library (--library SLUG) or, where that makes sense, for
every library of the deployment, each in its own time zone and with its own tables."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.library import all_libraries, by_slug, home, name, serving


class LibraryCommand(BaseCommand):
    # Without --library: every library (recounts, checks, rebuilds), or the home one alone
    # (a report is one library's).
    every_library_by_default = True

    def add_arguments(self, parser):
        which = "every library" if self.every_library_by_default else "the deployment's library"
        parser.add_argument(
            "--library", metavar="SLUG", help=f"one library of LIBRARIES_FILE (default: {which})"
        )

    def handle(self, *args, library=None, **options):
        if library is not None:
            chosen = by_slug(library)
            if chosen is None:
                slugs = ", ".join(lib.slug for lib in all_libraries())
                raise CommandError(f"--library {library!r}: no such library ({slugs})")
            libraries = [chosen]
        else:
            libraries = all_libraries() if self.every_library_by_default else [home()]
        for each in libraries:
            with serving(each):
                if len(libraries) > 1:
                    self.stdout.write(self.style.MIGRATE_HEADING(f"{each.slug}: {name(each)}"))
                self.handle_library(*args, **options)

    def handle_library(self, *args, **options):
        raise NotImplementedError
