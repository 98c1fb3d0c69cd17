"""migrate, except on the library databases: SLiMS owns them, not even django_migrations. With
several libraries, migrating `default` (the default) migrates every library's own tables too."""

from django.conf import settings
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections

from config.library import LIBRARY_ALIAS, SERVICE_PREFIX


class Command(MigrateCommand):
    def handle(self, *args, **options):
        database = options["database"]
        if database == LIBRARY_ALIAS or database.startswith(f"{LIBRARY_ALIAS}-"):
            if options["verbosity"] >= 1:
                self.stdout.write(
                    "Nothing to migrate: the library database belongs to SLiMS and is read-only."
                )
            return
        if database.startswith(SERVICE_PREFIX):
            create_database(database)
        result = super().handle(*args, **options)
        if database == "default":
            for library in settings.LIBRARIES:
                if library.service_alias != "default":
                    self.handle(*args, **{**options, "database": library.service_alias})
        return result


def create_database(alias: str) -> None:
    """A library's own database on the server of `default` (a SQLite file creates itself)."""
    database = settings.DATABASES[alias]
    if database["ENGINE"] != "django.db.backends.mysql":
        return
    with connections["default"].cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database['NAME']}` CHARACTER SET utf8mb4")
