"""At most LIBRARY_HOST_CONCURRENCY statements at once on one library database server, from
every process together; a dead holder's slot comes back when its lease ends."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.operations import host_slots
from metrics_cache.operations.host_slots import HostSlots, NoSlot


def run(slots: HostSlots, body=lambda: "done"):
    return slots(lambda sql, params, many, context: body(), "SELECT 1", None, False, {})


def test_a_statement_waits_for_a_free_slot_on_its_host(settings):
    settings.LIBRARY_HOST_CONCURRENCY = 1
    first, second = HostSlots("db1:3306"), HostSlots("db1:3306")
    holding, release, order = threading.Event(), threading.Event(), []

    def slow():
        holding.set()
        release.wait(5)
        order.append("first")

    thread = threading.Thread(target=run, args=(first, slow))
    thread.start()
    holding.wait(5)
    waiter = threading.Thread(target=lambda: order.append(run(second)))
    waiter.start()
    time.sleep(0.2)
    assert order == [], "the second statement waits while the host's one slot is taken"
    release.set()
    thread.join(5), waiter.join(5)
    assert order == ["first", "done"]
    assert client().zcard(keys.host_slots("db1:3306")) == 0, "both slots given back"


def test_another_host_is_not_limited_by_a_busy_one(settings):
    settings.LIBRARY_HOST_CONCURRENCY = 1
    client().zadd(keys.host_slots("db1:3306"), {"someone": time.time() + 60})
    assert run(HostSlots("db2:3306")) == "done"


def test_a_dead_holder_s_slot_comes_back_when_its_lease_ends(settings):
    settings.LIBRARY_HOST_CONCURRENCY = 1
    client().zadd(keys.host_slots("db1:3306"), {"died": time.time() - 1})
    assert run(HostSlots("db1:3306")) == "done"


def test_a_host_at_its_limit_too_long_fails_the_statement(settings, monkeypatch):
    settings.LIBRARY_HOST_CONCURRENCY = 2
    monkeypatch.setattr(host_slots, "WAIT_SECONDS", 0.3)
    client().zadd(keys.host_slots("db1:3306"), {"a": time.time() + 60, "b": time.time() + 60})
    started = time.monotonic()
    with pytest.raises(NoSlot, match=r"no statement slot within 0\.3 s"):
        run(HostSlots("db1:3306"))
    assert time.monotonic() - started < 2


def test_without_redis_statements_run_unlimited(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    settings.LIBRARY_HOST_CONCURRENCY = 1
    assert run(HostSlots("db1:3306")) == "done"


def test_only_mariadb_library_connections_take_slots(settings):
    assert host_slots.host_of({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}) is None
    mysql = {"ENGINE": "django.db.backends.mysql", "HOST": "10.1.2.3", "PORT": ""}
    assert host_slots.host_of(mysql) == "10.1.2.3:3306"

    class Connection:
        def __init__(self, alias, settings_dict):
            self.alias, self.settings_dict, self.execute_wrappers = alias, settings_dict, []

    # The service's library aliases only: not the demo writer's or a probe's connection.
    for alias, expected in (("library", 1), ("default", 0), ("library-writer", 0)):
        connection = Connection(alias, mysql)
        host_slots.limit_library_connections(None, connection)
        # connection_created again: the same connection object reconnecting
        host_slots.limit_library_connections(None, connection)
        assert len(connection.execute_wrappers) == expected, alias
    settings.LIBRARY_HOST_CONCURRENCY = 0
    connection = Connection("library", mysql)
    host_slots.limit_library_connections(None, connection)
    assert connection.execute_wrappers == []


@pytest.mark.django_db(databases=["default", "library"])
def test_the_service_s_library_connection_takes_slots_on_mariadb(library):
    connection = connections["library"]
    connection.ensure_connection()
    wrapped = any(isinstance(w, HostSlots) for w in connection.execute_wrappers)
    assert wrapped == (connection.vendor == "mysql")
