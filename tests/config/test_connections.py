"""Closing connections around tasks and requests (config.connections): what was opened is
closed as Django and Celery's fix-up would close it, without looking at every alias."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from celery.fixups.django import DjangoFixup
from django.db import DatabaseError, connections

from config import connections as closing
from config.celery import app
from tests.support.library import library_test

pytestmark = library_test


def worker_fixup():
    fixup = next(f for f in app._fixups if isinstance(f, DjangoFixup))
    return fixup.worker_fixup


def test_before_and_after_each_task_every_connection_the_task_opened_is_closed(library):
    # Celery's own fix-up closes the same, looking at every alias (two per library) to do it.
    assert isinstance(worker_fixup(), closing._WorkerFixup)
    for alias in ("library", "default"):
        connections[alias].ensure_connection()
    worker_fixup().close_database()  # what task_prerun and task_postrun call
    assert connections["library"].connection is None
    assert connections["default"].connection is None


def test_a_connection_opened_again_after_a_task_is_closed_after_the_next(library):
    fixup = worker_fixup()
    for _ in range(2):
        with connections["library"].cursor() as cursor:
            cursor.execute("SELECT 1")
        fixup.close_database()
        assert connections["library"].connection is None


def test_a_request_closes_what_is_past_its_age_and_keeps_the_rest(library):
    """As Django's own close_old_connections: `default` (CONN_MAX_AGE 0) closed, the library's
    connection (kept a minute) left open for the next request."""
    for alias in ("library", "default"):
        connections[alias].ensure_connection()
    closing.close_old_connections()  # request_finished's receiver (the wiring: below)
    assert connections["default"].connection is None
    assert connections["library"].connection is not None


def test_closing_looks_only_at_connections_opened_in_its_own_thread(library):
    """Nothing is noted for a thread that opened nothing: a closing there touches no alias."""
    connections["library"].ensure_connection()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(set(closing._noted())))
    thread.start()
    thread.join(10)
    assert seen == [set()]
    assert connections["library"] in closing._noted()


RECEIVERS = (
    "import django, json; django.setup(); import django.db; from django.core import signals; "
    "from config import connections as c; "
    "names = lambda s: [r().__module__ + '.' + r().__name__ for _, r, *_ in s.receivers]; "
    "print(json.dumps([names(signals.request_started), names(signals.request_finished)]))"
)


def test_a_process_closes_around_requests_with_this_module_not_django_s():
    """Django's own receivers look at every alias (two per library) on each request."""
    result = subprocess.run(
        [sys.executable, "-c", RECEIVERS], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    started, finished = json.loads(result.stdout.splitlines()[-1])
    ours = ["config.connections.reset_queries", "config.connections.close_old_connections"]
    assert [name for name in started if name in ours] == ours  # Django's order
    assert "config.connections.close_old_connections" in finished
    for receivers in (started, finished):
        assert "django.db.close_old_connections" not in receivers
        assert "django.db.reset_queries" not in receivers


@pytest.mark.parametrize("force", [True, False])
def test_a_connection_closed_elsewhere_is_forgotten(library, force):
    connections["library"].ensure_connection()
    connections["library"].close()
    closing.close_opened(force=force)
    assert connections["library"] not in closing._noted()


@pytest.mark.parametrize("force", [True, False])
def test_a_connection_whose_socket_is_gone_is_closed_without_an_error(library, force, caplog):
    """Its server restarted or the network cut: closing it fails, and Django drops it anyway."""
    connection = connections["library"]
    if connection.vendor != "mysql":
        pytest.skip("SQLite closes a closed file quietly")
    connection.ensure_connection()
    connection.connection.close()  # behind Django's back
    connection.close_at = 0  # past its age: a request closes it too
    closing.close_opened(force=force)
    assert connection.connection is None
    assert connection not in closing._noted()
    (record,) = [r for r in caplog.records if r.name == "config.connections"]
    assert record.getMessage().startswith("closing library's connection: ")
    assert isinstance(record.args[1], DatabaseError)


def test_a_connection_a_request_kept_is_closed_by_the_next_task(library):
    connections["library"].ensure_connection()
    closing.close_old_connections()  # request_finished's receiver
    assert connections["library"] in closing._noted()
    worker_fixup().close_database()
    assert connections["library"].connection is None


def test_with_debug_s_query_log_a_closed_connection_stays_noted_until_its_log_is_cleared(library):
    connection = connections["library"]
    connection.force_debug_cursor = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        closing.close_opened(force=True)
        assert connection in closing._noted() and len(connection.queries_log) == 1
        closing.reset_queries()  # request_started's receivers, in their order
        closing.close_old_connections()
        assert not connection.queries_log
        assert connection not in closing._noted()
    finally:
        connection.force_debug_cursor = False
