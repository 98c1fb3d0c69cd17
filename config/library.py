"""The SLiMS database: the base of its unmanaged models and the router that keeps it read-only."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

LIBRARY_ALIAS = "library"


class LibraryIsReadOnly(RuntimeError):
    """Raised on any attempt to write to the SLiMS database through the ORM."""


class LibraryModel(models.Model):
    """A table owned by SLiMS: read through the `library` alias, never written or migrated."""

    class Meta:
        abstract = True
        managed = False


def library_fingerprint() -> str:
    """Which library database this is (engine, host, name; not the port, which a proxy may
    change). Redis keys and snapshot records carry it, so pointing the service at another
    library never serves the previous one's figures."""
    database = settings.DATABASES[LIBRARY_ALIAS]
    # Any separator gives each library database one distinct, stable name; another would only
    # rename the keys once (one cache refill), never mix two libraries' figures.
    identity = "|".join(  # pragma: no mutate
        str(database.get(key) or "") for key in ("ENGINE", "HOST", "NAME")
    )
    return hashlib.sha1(identity.encode()).hexdigest()[:8]


def is_library_model(model: type[models.Model]) -> bool:
    return issubclass(model, LibraryModel)


class LibraryRouter:
    """Sends SLiMS models to `library`; refuses writes loudly rather than skipping them."""

    def db_for_read(self, model, **hints):
        return LIBRARY_ALIAS if is_library_model(model) else None

    def db_for_write(self, model, **hints):
        if is_library_model(model):
            raise LibraryIsReadOnly(
                f"{model._meta.db_table} belongs to SLiMS; the dashboard never writes to it"
            )
        return None

    def allow_relation(self, obj1, obj2, **hints):
        if is_library_model(type(obj1)) and is_library_model(type(obj2)):
            return True
        if is_library_model(type(obj1)) or is_library_model(type(obj2)):
            return False
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == LIBRARY_ALIAS:
            return False
        model = hints.get("model")
        if model is not None and is_library_model(model):
            return False
        return None
