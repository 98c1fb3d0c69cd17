"""The library being served: the base of SLiMS's unmanaged models, the router that reads them
from the current library's database (never writing it) and keeps each library's own tables
apart, and the current library itself (set per request, per task, per command)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.libraries import Library

LIBRARY_ALIAS = "library"
# The apps whose tables are a library's own (rollups, snapshot records, report copies): kept
# in the library's service database. Users, sessions and schedules are the deployment's.
PER_LIBRARY_APPS = frozenset({"visitors", "books", "metrics_cache"})

SERVICE_PREFIX = "service-"

_current: ContextVar[Library | None] = ContextVar("library", default=None)


def all_libraries() -> list[Library]:
    return settings.LIBRARIES


def by_slug(slug: str) -> Library | None:
    return next((library for library in settings.LIBRARIES if library.slug == slug), None)


def home() -> Library:
    """The library kept in the `library` and `default` aliases."""
    return next(lib for lib in settings.LIBRARIES if lib.alias == LIBRARY_ALIAS)


def current() -> Library:
    """The library this request, task or command serves: the home library unless set."""
    return _current.get() or home()


@contextlib.contextmanager
def serving(library: Library) -> Iterator[Library]:
    """Everything inside reads `library`'s database, keys and tables, in its time zone."""
    token = _current.set(library)
    try:
        with timezone.override(time_zone(library)):
            yield library
    finally:
        _current.reset(token)


def time_zone(library: Library | None = None) -> str:
    return (library or current()).time_zone or settings.LIBRARY_TIME_ZONE


def count_mode(library: Library | None = None) -> str:
    return (library or current()).count_mode or settings.TODAY_COUNT_MODE


def name(library: Library | None = None) -> str:
    library = library or current()
    return library.name if library.alias != LIBRARY_ALIAS else settings.LIBRARY_NAME


class LibraryIsReadOnly(RuntimeError):
    """Raised on any attempt to write to the SLiMS database through the ORM."""


class LibraryModel(models.Model):
    """A table owned by SLiMS: read through the `library` alias, never written or migrated."""

    class Meta:
        abstract = True
        managed = False


def library_fingerprint(library: Library | None = None) -> str:
    """Which library database this is (engine, host, name; not the port, which a proxy may
    change): the current library's, or `library`'s. Redis keys and snapshot records carry it,
    so pointing the service at another library never serves the previous one's figures."""
    library = library or current()
    database = settings.DATABASES[library.alias]
    # Any separator gives each library database one distinct, stable name; another would only
    # rename the keys once (one cache refill), never mix two libraries' figures.
    identity = "|".join(  # pragma: no mutate
        str(database.get(key) or "") for key in ("ENGINE", "HOST", "NAME")
    )
    if library.alias != LIBRARY_ALIAS:
        # The file's other libraries are named by their slug too: two servers on one host that
        # differ by their port alone (each with a database `slims`) are two libraries.
        identity += f"|{library.slug}"  # pragma: no mutate (any separator: see above)
    return _digest(identity)


@functools.lru_cache(maxsize=4096)
def _digest(identity: str) -> str:
    return hashlib.sha1(identity.encode()).hexdigest()[:8]


def is_library_model(model: type[models.Model]) -> bool:
    return issubclass(model, LibraryModel)


def is_per_library(model: type[models.Model]) -> bool:
    return model._meta.app_label in PER_LIBRARY_APPS


def own_tables() -> str:
    """The alias of the current library's own tables: a transaction over them names it
    (transaction.atomic() alone opens one on `default`)."""
    return current().service_alias


def _service_alias() -> str | None:
    alias = current().service_alias
    return None if alias == "default" else alias


class LibraryRouter:
    """Sends SLiMS models to the current library's database and refuses writes to them loudly
    rather than skipping them; the current library's own tables to its service database."""

    def db_for_read(self, model, **hints):
        if is_library_model(model):
            return current().alias
        return _service_alias() if is_per_library(model) else None

    def db_for_write(self, model, **hints):
        if is_library_model(model):
            raise LibraryIsReadOnly(
                f"{model._meta.db_table} belongs to SLiMS; the dashboard never writes to it"
            )
        return _service_alias() if is_per_library(model) else None

    def allow_relation(self, obj1, obj2, **hints):
        if is_library_model(type(obj1)) and is_library_model(type(obj2)):
            return True
        if is_library_model(type(obj1)) or is_library_model(type(obj2)):
            return False
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == LIBRARY_ALIAS or db.startswith(f"{LIBRARY_ALIAS}-"):
            return False
        model = hints.get("model")
        if model is not None and is_library_model(model):
            return False
        if db.startswith(SERVICE_PREFIX):  # another library's own tables, nothing else
            return app_label in PER_LIBRARY_APPS
        return None
