"""migrate, except on the library database: SLiMS owns it, not even django_migrations."""

from django.core.management.commands.migrate import Command as MigrateCommand

from config.library import LIBRARY_ALIAS


class Command(MigrateCommand):
    def handle(self, *args, **options):
        if options["database"] == LIBRARY_ALIAS:
            if options["verbosity"] >= 1:
                self.stdout.write(
                    "Nothing to migrate: the library database belongs to SLiMS and is read-only."
                )
            return
        return super().handle(*args, **options)
