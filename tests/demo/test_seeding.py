"""seed_demo: SLiMS's real table shape, realistic rows, and never over an existing library."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from books.models import Biblio, Item, Loan, Member
from demo.schema import LOOKUP_TABLES, MARKER_TABLE, SLIMS_TABLES, create_statements
from demo.writer import library_writer
from tests.support.library import library_test
from visitors.models import Visit

pytestmark = library_test

SMALL = [
    "--visitors=3000",
    "--members=200",
    "--titles=300",
    "--items=600",
    "--loans=900",
    "--years=2",
    "--now=2026-11-25T12:30:00",
]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *SMALL, *args, stdout=out)
    return out.getvalue()


def test_refuses_a_database_that_holds_slims_rows(library):
    library.visit("2026-01-01 08:00:00", name="Real Visitor")
    with pytest.raises(CommandError, match="refusing"):
        seed()
    assert list(Visit.objects.values_list("member_name", flat=True)) == ["Real Visitor"]


def test_force_refuses_a_library_seed_demo_did_not_create(library):
    """--force replaces a demo library, never a real one (no seed_demo marker)."""
    library.visit("2026-01-01 08:00:00", name="Real Visitor")
    with pytest.raises(CommandError, match="not created by seed_demo"):
        seed("--force")
    assert list(Visit.objects.values_list("member_name", flat=True)) == ["Real Visitor"]


def test_seeding_leaves_its_marker_and_force_replaces_only_then(scratch_library):
    seed("--seed=5")
    connection = connections["library"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seed, seeded_at FROM {MARKER_TABLE}")
        assert list(cursor.fetchall()) == [(5, "2026-11-25T12:30:00")]
    assert "Demo library ready" in seed("--seed=6", "--force")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seed FROM {MARKER_TABLE}")
        assert list(cursor.fetchall()) == [(6,)]


def test_if_missing_leaves_an_existing_library_alone(library):
    library.visit("2026-01-01 08:00:00")
    assert "already present" in seed("--if-missing")
    assert Visit.objects.count() == 1


def test_seeds_an_empty_database_with_slims_shaped_rows(scratch_library):
    output = seed("--seed=7")
    assert "Demo library ready" in output
    connection = connections["library"]
    with connection.cursor() as cursor:
        assert set(SLIMS_TABLES) <= set(connection.introspection.table_names(cursor))
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT table_name, engine FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            )
            assert {engine for _, engine in cursor.fetchall()} == {"MyISAM"}
            cursor.execute("SHOW INDEX FROM visitor_count")
            indexed = {row[4] for row in cursor.fetchall()}
            assert indexed == {"visitor_id", "member_id", "room_code"}  # no checkin_date
            cursor.execute("SHOW INDEX FROM loan")
            assert "loan_date" not in {row[4] for row in cursor.fetchall()}

    visits = Visit.objects.count()
    assert 2700 <= visits <= 3000  # today's visits stop at --now
    assert Member.objects.count() == 198
    assert Biblio.objects.count() == 300
    assert Item.objects.count() == 600
    assert Loan.objects.count() == 900
    # Non-member visitors come both as NULL and as an empty member_id.
    assert Visit.objects.filter(member_id__isnull=True).exists()
    assert Visit.objects.filter(member_id="").exists()
    # Nothing after --now; the library's week has a rhythm (Sunday nearly closed).
    latest = Visit.objects.order_by("-checkin_date").first().checkin_date
    assert latest.strftime("%Y-%m-%d %H:%M") <= "2026-11-25 12:30"
    sundays = Visit.objects.filter(checkin_date__week_day=1).count()
    mondays = Visit.objects.filter(checkin_date__week_day=2).count()
    assert sundays * 5 < mondays


def test_same_seed_gives_the_same_library(scratch_library):
    seed("--seed=11")
    first = list(Visit.objects.order_by("visitor_id").values_list("member_name", "checkin_date"))
    seed("--seed=11", "--force")
    second = list(Visit.objects.order_by("visitor_id").values_list("member_name", "checkin_date"))
    assert first == second
    seed("--seed=12", "--force")
    third = list(Visit.objects.order_by("visitor_id").values_list("member_name", "checkin_date"))
    assert third != first


def drop_lookup_tables() -> None:
    with library_writer() as writer, writer.cursor() as cursor:
        for table in LOOKUP_TABLES:
            cursor.execute(f"DROP TABLE {table}")


def test_if_missing_seeds_again_a_demo_library_older_than_the_reports(scratch_library):
    seed("--seed=5")
    drop_lookup_tables()  # as a release before the reports left it
    output = seed("--seed=5", "--if-missing")
    assert "predates the reports" in output and "Demo library ready" in output
    with connections["library"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mst_visitor_room")
        assert cursor.fetchone()[0] == 3
    assert Biblio.objects.exclude(classification=None).exists()
    assert Item.objects.exclude(coll_type_id=None).exclude(location_id=None).exists()


def test_if_missing_leaves_a_real_library_without_the_lookup_tables_alone(library):
    library.visit("2026-01-01 08:00:00")
    drop_lookup_tables()  # a SLiMS older than 9.6, or tables not granted
    try:
        assert "already present" in seed("--if-missing")
        assert Visit.objects.count() == 1
    finally:
        with library_writer() as writer, writer.cursor() as cursor:
            for statement in create_statements(writer.vendor):
                if any(f"TABLE {table} " in statement for table in LOOKUP_TABLES):
                    cursor.execute(statement)
