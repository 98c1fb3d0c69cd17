"""The library database is read-only to the service, and migrate never touches it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connections

from books.models import Biblio, Item, Loan, Member
from config.library import LibraryIsReadOnly, LibraryModel
from demo.schema import SLIMS_TABLES
from tests.support.library import library_test
from visitors.models import Visit

pytestmark = library_test


def test_library_models_are_unmanaged_and_routed_to_library():
    library_models = [m for m in apps.get_models() if issubclass(m, LibraryModel)]
    assert {m._meta.db_table for m in library_models} == set(SLIMS_TABLES)
    for model in library_models:
        assert model._meta.managed is False
        assert model.objects.all().db == "library"


@pytest.mark.parametrize(
    "write",
    [
        lambda: Visit.objects.create(member_name="x", checkin_date="2026-01-01 08:00:00"),
        lambda: Visit.objects.bulk_create([Visit(member_name="x")]),
        lambda: Visit.objects.all().update(member_name="x"),
        lambda: Visit.objects.all().delete(),
        lambda: Member.objects.get_or_create(member_id="1", defaults={"member_name": "x"}),
        lambda: Biblio(title="x").save(),
        lambda: Item.objects.filter(item_id=1).update(item_code="x"),
        lambda: Loan.objects.all().delete(),
    ],
)
def test_orm_writes_to_library_raise(library, write):
    library.visit("2026-01-01 08:00:00")
    with pytest.raises(LibraryIsReadOnly):
        write()
    assert Visit.objects.count() == 1


def test_the_server_refuses_writes_on_the_service_connection(library):
    library.visit("2026-01-01 08:00:00")
    with pytest.raises(DatabaseError), connections["library"].cursor() as cursor:
        cursor.execute("DELETE FROM visitor_count")
    assert Visit.objects.count() == 1


def test_migrate_creates_nothing_in_the_library_database(scratch_library):
    call_command("migrate", database="library", verbosity=0)
    with connections["library"].cursor() as cursor:
        tables = set(connections["library"].introspection.table_names(cursor))
    assert tables == set()


def test_migrate_all_databases_leaves_the_library_untouched(scratch_library):
    call_command("migrate", verbosity=0)
    with connections["library"].cursor() as cursor:
        assert connections["library"].introspection.table_names(cursor) == []
