"""A group's ticks ask the libraries sharing a database server for their highest visitor ids in
one statement; a tick whose watermark is at or above its library's opens no connection of its
own, and one below folds as before, whatever the dates of the rows above."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date

import pytest
from django.db import connections
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from config.library import home
from demo.schema import create_statements
from demo.writer import library_writer
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.operations.host_slots import HostSlots, host_of
from metrics_cache.rollups import engine
from metrics_cache.today import groups, loop, probe
from metrics_cache.today.publishing import published
from metrics_cache.today.tasks import (
    TICK_LIMITS,
    reconcile_today_group,
    sync_today,
    sync_today_group,
)
from tests.conftest import grant_select
from tests.support.aliases import extra_aliases
from tests.support.library import LibraryRows, library_test
from tests.support.rollups import at, build
from visitors import rollups as visit_rollups

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


@pytest.fixture(autouse=True)
def fresh_probe_connections():
    """Each test makes the probe's connections from its own settings."""
    probe.forget()
    yield
    probe.forget()


@pytest.fixture
def neighbour(library, settings):
    """A second library on the same MariaDB server, with the same credentials: its rows."""
    reader = connections["library"]
    if reader.vendor != "mysql":
        pytest.skip("libraries share a server on MariaDB/MySQL only")
    name = f"{reader.settings_dict['NAME']}_neighbour"
    with library_writer() as writer, writer.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8")
        grant_select(cursor, name)
    other = replace(home(), slug="lib-1", alias="library-lib-1", service_alias="service-lib-1")
    settings.LIBRARIES = [home(), other]
    with extra_aliases(**{other.alias: {**reader.settings_dict, "NAME": name}}):
        with library_writer(other.alias) as writer:
            with writer.cursor() as cursor:
                for statement in create_statements(writer.vendor):
                    cursor.execute(statement)
            yield other, LibraryRows(writer)
        with library_writer() as writer, writer.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _probe_connection():
    """The probe's connection to the home library's server."""
    return probe.connection_for(probe.server_of(home()), "library")


def test_libraries_sharing_a_server_are_asked_in_one_statement(library, neighbour):
    other, rows = neighbour
    library.visit("2026-11-25 08:00:00")
    mine = library.visit("2026-11-25 09:00:00")
    rows.visit("2026-11-25 08:00:00", visitor_id=70)
    rows.visit("2019-03-01 10:00:00", visitor_id=900)  # an old row imported late, at a high id
    rows.visit("2026-11-25 09:00:00", visitor_id=80)
    with (
        CaptureQueriesContext(_probe_connection()) as probed,
        CaptureQueriesContext(connections["library"]) as mine_,
        CaptureQueriesContext(connections[other.alias]) as theirs,
    ):
        found = probe.highest_ids([home(), other])
    assert found == {"default": mine, "lib-1": 900}
    assert len(probed.captured_queries) == 1
    assert mine_.captured_queries == theirs.captured_queries == []
    # Closed after: one connection at a time to the shared server.
    assert _probe_connection().connection is None


def test_the_probe_waits_a_bounded_time_on_a_connection_of_its_own(library, neighbour):
    """Bounded well inside a tick's time limit, to no database, a read-only session as the
    library's, a slot of the host as every statement takes."""
    connection = _probe_connection()
    options = connection.settings_dict["OPTIONS"]
    assert options["connect_timeout"] == options["read_timeout"] == probe.WAIT_SECONDS
    assert options["write_timeout"] == probe.WAIT_SECONDS
    assert TICK_LIMITS["soft_time_limit"] / 2 > probe.WAIT_SECONDS
    library_options = connections["library"].settings_dict["OPTIONS"]
    assert options["init_command"] == library_options["init_command"]
    assert "READ ONLY" in options["init_command"]
    assert connection.settings_dict["NAME"] == ""
    (slots,) = connection.execute_wrappers
    assert isinstance(slots, HostSlots)
    assert slots.key == keys.host_slots(host_of(connections["library"].settings_dict))


def test_without_a_limit_on_the_host_the_probe_takes_no_slot(library, neighbour, settings):
    settings.LIBRARY_HOST_CONCURRENCY = 0
    assert _probe_connection().execute_wrappers == []


def test_forgetting_makes_the_connection_again(library, neighbour):
    first = _probe_connection()
    assert _probe_connection() is first
    probe.forget()
    assert _probe_connection() is not first


def test_an_empty_table_has_nothing_above_any_watermark(library, neighbour):
    other, _ = neighbour
    library.visit("2026-11-25 08:00:00")
    assert probe.highest_ids([home(), other]) == {"default": 1, "lib-1": 0}


@pytest.mark.parametrize(
    "how",
    ["alone", "another host", "another user", "an unquotable name"],
)
def test_a_library_that_shares_no_connection_asks_for_itself(library, neighbour, settings, how):
    other, _ = neighbour
    database = connections[other.alias].settings_dict
    libraries = [home(), other]
    if how == "alone":
        libraries = [other]
    elif how == "another host":
        database["HOST"] = "localhost" if database["HOST"] != "localhost" else "127.0.0.1"
    elif how == "another user":
        database["USER"] = "someone_else"
    else:
        database["NAME"] = "bad`name"
    with CaptureQueriesContext(_probe_connection()) as queries:
        assert probe.highest_ids(libraries) == {}
    assert queries.captured_queries == []


def test_a_failing_statement_leaves_its_libraries_to_ask_for_themselves(library, neighbour, caplog):
    other, _ = neighbour
    connections[other.alias].settings_dict["NAME"] = "no_such_library_database"
    library.visit("2026-11-25 08:00:00")
    with caplog.at_level(logging.INFO, logger="metrics_cache.today.probe"):
        assert probe.highest_ids([home(), other]) == {}
    assert _probe_connection().connection is None
    (record,) = caplog.records
    assert record.getMessage().startswith("libraries probed together on library-probe: ")
    assert "no_such_library_database" in record.getMessage()


def test_the_libraries_of_two_servers_are_asked_once_each(library, neighbour, settings):
    other, rows = neighbour
    rows.visit("2026-11-25 08:00:00", visitor_id=5)
    library.visit("2026-11-25 08:00:00")
    third = replace(other, slug="lib-2", alias="library-lib-2")
    fourth = replace(other, slug="lib-3", alias="library-lib-3")
    elsewhere = {**connections[other.alias].settings_dict, "HOST": "localhost"}
    if connections["library"].settings_dict["HOST"] == "localhost":
        elsewhere["HOST"] = "127.0.0.1"
    with extra_aliases(**{third.alias: elsewhere, fourth.alias: elsewhere}):
        found = probe.highest_ids([home(), other, third, fourth])
    assert found == {"default": 1, "lib-1": 5, "lib-2": 5, "lib-3": 5}


def _watermark() -> int:
    return engine.live_state(visit_rollups.SOURCE_NAME).last_id


def test_a_tick_at_the_probed_highest_id_opens_no_connection_and_counts_today(library):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        library.visit("2026-11-25 09:00:00")
        build()
    watermark = _watermark()
    connections["library"].close()
    opened = []

    def note(sender, connection, **kwargs):
        opened.append(connection.alias)

    connection_created.connect(note)
    try:
        with at(2026, 11, 25, 10, 5), probe.probed(watermark):
            assert loop.tick() == "ok"
            assert published()["total"] == 2
    finally:
        connection_created.disconnect(note)
    assert "library" not in opened and connections["library"].connection is None


def test_a_tick_below_the_probed_highest_id_folds_the_rows_above_whatever_their_dates(library):
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        build()
    library.visit("2026-11-24 17:00:00")  # yesterday's, typed in late
    high = library.visit("2026-11-25 10:01:00", visitor_id=5000)
    library.visit("2026-11-25 10:02:00")  # at a higher id still, after the probe
    with at(2026, 11, 25, 10, 5), probe.probed(high - 1):
        assert loop.tick() == "ok"
        assert published()["total"] == 3
    assert _watermark() == high + 1
    state = engine.live_state(visit_rollups.SOURCE_NAME)
    assert visit_rollups.visits_on(date(2026, 11, 24), state.generation) == 1


def test_a_group_gives_each_library_its_probed_highest_id(library, neighbour):
    _, rows = neighbour
    rows.visit("2026-11-25 08:00:00", visitor_id=42)
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 09:00:00")
    seen = []

    def step() -> str:
        seen.append(probe.known_highest())
        return "ok"

    assert groups.run(sync_today, step, 0, 1, 5, probing=True) == {"ok": 2}
    assert seen == [2, 42]
    assert probe.known_highest() is None
    seen.clear()
    groups.run(sync_today, step, 0, 1, 5)
    assert seen == [None, None]


@pytest.mark.parametrize("mode", ["direct", "incremental"])
def test_a_library_whose_ticks_do_not_fold_is_not_probed_with_the_group(
    library, neighbour, settings, mode
):
    other, rows = neighbour
    rows.visit("2026-11-25 08:00:00", visitor_id=42)
    settings.LIBRARIES = [home(), replace(other, count_mode=mode)]
    seen = []
    with CaptureQueriesContext(_probe_connection()) as queries:
        groups.run(sync_today, lambda: seen.append(probe.known_highest()) or "ok", 0, 1, 5,
                   probing=True)  # fmt: skip
    assert seen == [None, None] and queries.captured_queries == []


def test_a_failing_library_is_not_probed_with_the_group(library, neighbour, broker):
    other, rows = neighbour
    rows.visit("2026-11-25 08:00:00", visitor_id=42)
    client().hset(keys.today_loop_status(other), mapping={"failures": 1})
    seen = []
    with CaptureQueriesContext(_probe_connection()) as queries:
        outcomes = groups.run(sync_today, lambda: seen.append(probe.known_highest()) or "ok",
                              0, 1, 5, probing=True)  # fmt: skip
    assert outcomes == {"ok": 1, groups.ALONE: 1}
    # The home library alone on its server in the group: not probed, it asks for itself.
    assert seen == [None] and queries.captured_queries == []


def test_the_ticks_group_probes_and_the_recounts_group_does_not(library, settings):
    """The exact recount asks for itself: it corrects the rollups, it does not skip work."""
    if connections["library"].vendor != "mysql":
        pytest.skip("libraries share a server on MariaDB/MySQL only")
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        build()
    # A second name for the same database: two libraries on one server, one set of tables.
    settings.LIBRARIES = [home(), replace(home(), slug="twin")]

    with (
        at(2026, 11, 25, 10, 5),
        CaptureQueriesContext(_probe_connection()) as probed,
        CaptureQueriesContext(connections["library"]) as own,
    ):
        assert sync_today_group(group=0, groups=1) == {"ok": 2}
    assert len(probed.captured_queries) == 1
    # Both at the probed highest id: no statement of their own.
    assert own.captured_queries == []
    with (
        at(2026, 11, 25, 10, 6),
        CaptureQueriesContext(_probe_connection()) as probed,
        CaptureQueriesContext(connections["library"]) as own,
    ):
        reconcile_today_group(group=0, groups=1)
        assert published()["total"] == 1
    assert probed.captured_queries == [] and own.captured_queries


def test_a_tick_that_finds_nothing_new_since_the_last_publishes_it_again_without_a_read(library):
    """Nothing came above the watermark the last tick counted to, today: the published count
    stands, published again (its time) without reading the rollups or SLiMS."""
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        library.visit("2026-11-25 09:00:00")
        build()
    with at(2026, 11, 25, 10, 5), probe.probed(_watermark()):
        assert loop.tick() == "ok"
        first = published()
    connections["library"].close()
    with (
        at(2026, 11, 25, 10, 6),
        probe.probed(_watermark()),
        CaptureQueriesContext(connections["default"]) as own,
    ):
        assert loop.tick() == "ok"
        again = published()
    assert own.captured_queries == []
    assert connections["library"].connection is None
    assert again["total"] == first["total"] == 2
    assert again["generated_at"] > first["generated_at"]
    # And the tick after it, likewise: it noted how far its count covered, as a count does.
    with (
        at(2026, 11, 25, 10, 7),
        probe.probed(_watermark()),
        CaptureQueriesContext(connections["default"]) as own,
    ):
        assert loop.tick() == "ok"
    assert own.captured_queries == []
    status = loop.loop_status()
    assert status["baseline"]["id"] == _watermark() and status["error"] is None


def _counted_once(library) -> None:
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00")
        build()
    with at(2026, 11, 25, 10, 5), probe.probed(_watermark()):
        assert loop.tick() == "ok"


def test_rows_folded_since_the_last_tick_are_counted(library):
    """Another job (the nightly fold, a recount) moved the watermark past what the last tick
    counted to: the rollups are read again."""
    _counted_once(library)
    library.visit("2026-11-25 10:06:00")
    with at(2026, 11, 25, 10, 7):
        engine.fold(visit_rollups.SOURCE, engine.live_state(visit_rollups.SOURCE_NAME),
                    budget_seconds=5)  # fmt: skip
    with at(2026, 11, 25, 10, 8), probe.probed(_watermark()):
        assert loop.tick() == "ok"
        assert published()["total"] == 2


def test_a_row_above_what_the_last_tick_counted_is_counted(library):
    _counted_once(library)
    library.visit("2026-11-24 20:00:00", visitor_id=700)  # yesterday's, typed in late
    library.visit("2026-11-25 10:06:00")
    with at(2026, 11, 25, 10, 8), probe.probed(701):
        assert loop.tick() == "ok"
        assert published()["total"] == 2
    assert _watermark() == 701


@pytest.mark.parametrize("what", ["a new day", "no count published", "no status", "unprobed"])
def test_a_tick_reads_the_rollups_when_it_cannot_know_nothing_changed(library, what):
    _counted_once(library)
    when = at(2026, 11, 25, 10, 8)
    highest = _watermark()
    if what == "a new day":
        when = at(2026, 11, 26, 0, 1)
    elif what == "no count published":
        client().delete(keys.today_count())
    elif what == "no status":
        client().delete(keys.today_loop_status())
    else:
        highest = None
    with when, probe.probed(highest), CaptureQueriesContext(connections["default"]) as own:
        assert loop.tick() == "ok"
        expected = 0 if what == "a new day" else 1
        assert published()["total"] == expected
    assert own.captured_queries


def test_a_row_below_the_watermark_is_counted_by_the_recount_and_the_ticks_keep_it(library):
    """A row written at an id below the watermark (an import keeping its ids) is no tick's to
    see, probed or not: the exact recount counts it, and a tick that finds nothing new after
    publishes the recount's figure, not the one before it."""
    with at(2026, 11, 25, 10, 0):
        library.visit("2026-11-25 08:00:00", visitor_id=10)
        library.visit("2026-11-25 09:00:00", visitor_id=20)
        build()
    with at(2026, 11, 25, 10, 5), probe.probed(20):
        assert loop.tick() == "ok"
    library.visit("2026-11-25 09:30:00", visitor_id=15)
    with at(2026, 11, 25, 10, 6), probe.probed(20):
        assert loop.tick() == "ok"
        assert published()["total"] == 2
    with at(2026, 11, 25, 10, 7):
        assert loop.reconcile_tick() == "ok"
        assert published()["total"] == 3
    with at(2026, 11, 25, 10, 8), probe.probed(20):
        assert loop.tick() == "ok"
        assert published()["total"] == 3
