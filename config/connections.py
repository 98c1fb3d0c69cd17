"""Closing the database connections a request or a task opened, without walking every alias.

Django (at the start and end of each request) and Celery's Django fix-up (before and after each
task) close connections by looking at every alias in DATABASES: two per library, each looked up
in a thread-local store. With 500 libraries that is a thousand look-ups, milliseconds, each
time, to close the one or two connections a request or a task opened. Here each connection is
noted, in its thread, as it opens, and only those noted are looked at: the same closing, for
what was opened."""

from __future__ import annotations

import logging
import os
import threading

import django.db
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from django.core import signals
from django.db import Error
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)
_here = threading.local()


def _noted() -> set[BaseDatabaseWrapper]:
    try:
        return _here.wrappers
    except AttributeError:
        _here.wrappers = set()
        return _here.wrappers


def note_opened(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """connection_created: a connection of this thread, to be looked at when closing."""
    _noted().add(connection)


def close_opened(*, force: bool) -> None:
    """Closes this thread's open connections: all of them (`force`, as Celery does around a
    task), or those unusable or past their CONN_MAX_AGE (as Django does around a request)."""
    noted = _noted()
    for wrapper in list(noted):
        try:
            if force:
                wrapper.close()
            else:
                wrapper.close_if_unusable_or_obsolete()
        except Error as exc:  # the server or the socket gone: Django drops the connection anyway
            logger.warning("closing %s's connection: %s", wrapper.alias, exc)
        # Kept while its query log has entries (DEBUG), so reset_queries still clears it.
        if wrapper.connection is None and not wrapper.queries_log:
            noted.discard(wrapper)


def close_old_connections(**kwargs) -> None:
    """In place of django.db.close_old_connections on request_started and request_finished."""
    close_opened(force=False)  # pragma: no mutate (None is falsy: the same closing as False)


def reset_queries(**kwargs) -> None:
    """In place of django.db.reset_queries on request_started."""
    for wrapper in _noted():
        wrapper.queries_log.clear()


def install() -> None:
    """Notes connections as they open and puts the receivers above in place of Django's."""
    connection_created.connect(note_opened, dispatch_uid="libdash.connections")
    for signal, theirs, ours in (
        (signals.request_started, django.db.reset_queries, reset_queries),
        (signals.request_started, django.db.close_old_connections, close_old_connections),
        (signals.request_finished, django.db.close_old_connections, close_old_connections),
    ):
        signal.disconnect(theirs)
        # Under the key of Django's receiver: what disconnects Django's disconnects this one
        # (the test client does, around each request it makes, to keep the test's connection).
        signal.connect(ours, dispatch_uid=id(theirs))


class _WorkerFixup(DjangoWorkerFixup):
    def _close_database(self) -> None:
        close_opened(force=True)


class _Fixup(DjangoFixup):
    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = _WorkerFixup(self.app)
        return self._worker_fixup


def celery_fixup(app) -> DjangoFixup | None:
    """Celery's Django fix-up (the app's `fixups`), closing only what a task opened."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return None
    return _Fixup(app).install()
