"""Factories for SLiMS rows, written through the writer connection (never the service's)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper

from demo.schema import SLIMS_TABLES, create_statements
from demo.writer import library_writer

# Library tests: the library alias is reachable and not wrapped in a test transaction, so rows
# written by the writer connection are visible to the service's connection (MyISAM has no
# transactions anyway).
library_test = [
    pytest.mark.library,
    pytest.mark.django_db(databases=["default", "library"], transaction=True),
]


class LibraryRows:
    """Inserts rows into the test library database; returns the new row's id."""

    def __init__(self, connection: BaseDatabaseWrapper):
        self.connection = connection
        self._codes = itertools.count(1)

    def _insert(self, table: str, **values) -> int:
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(c) for c in values)
        marks = ", ".join(["%s"] * len(values))
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})", list(values.values())
            )
            return cursor.lastrowid

    def truncate(self) -> None:
        # Emptied with their auto-increment counters reset, as in a new SLiMS database.
        with self.connection.cursor() as cursor:
            for table in SLIMS_TABLES:
                if self.connection.vendor == "mysql":
                    cursor.execute(f"TRUNCATE TABLE {table}")
                else:
                    cursor.execute(f"DELETE FROM {table}")
                    cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])

    def visit(
        self,
        checkin: datetime | str,
        *,
        member_id: str | None = None,
        name: str = "Budi Santoso",
        institution: str | None = "Fakultas Ekonomi",
        visitor_id: int | None = None,
        room: str | None = None,
    ) -> int:
        values = {
            "member_id": member_id,
            "member_name": name,
            "institution": institution,
            "room_code": room,
            "checkin_date": str(checkin),
        }
        if visitor_id is not None:
            values = {"visitor_id": visitor_id, **values}
        return self._insert("visitor_count", **values)

    def member(
        self,
        member_id: str,
        name: str,
        *,
        institution: str | None = None,
        member_type: int | None = None,
        registered: str | None = None,
        expires: str = "2030-12-31",
    ) -> str:
        self._insert(
            "member",
            member_id=member_id,
            member_name=name,
            inst_name=institution,
            member_type_id=member_type,
            register_date=registered,
            expire_date=expires,
        )
        return member_id

    def member_type(self, type_id: int, name: str) -> None:
        self._insert("mst_member_type", member_type_id=type_id, member_type_name=name)

    def collection_type(self, type_id: int, name: str) -> None:
        self._insert("mst_coll_type", coll_type_id=type_id, coll_type_name=name)

    def location(self, location_id: str, name: str | None) -> None:
        self._insert("mst_location", location_id=location_id, location_name=name)

    def execute(self, sql: str, params: list | None = None) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params or [])

    def room(self, code: str, name: str) -> None:
        self._insert("mst_visitor_room", unique_code=code, name=name)

    def biblio(self, title: str, *, classification: str | None = None) -> int:
        return self._insert("biblio", title=title, classification=classification)

    def item(
        self,
        biblio_id: int | None,
        item_code: str | None = None,
        *,
        coll_type: int | None = None,
        location: str | None = None,
    ) -> str:
        code = item_code or f"T{next(self._codes):06d}"
        self._insert(
            "item", biblio_id=biblio_id, item_code=code, coll_type_id=coll_type,
            location_id=location, input_date="2020-01-01 08:00:00",
        )  # fmt: skip
        return code

    def loan(self, item_code: str | None, member_id: str | None, loan_date: date | str) -> int:
        return self._insert(
            "loan",
            item_code=item_code,
            member_id=member_id,
            loan_date=str(loan_date),
            due_date=str(loan_date),
        )


@contextmanager
def dropped_table(table: str) -> Iterator[None]:
    """A SLiMS table missing (or not granted) for the duration; created again, empty, after."""
    with library_writer() as writer, writer.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    yield
    with library_writer() as writer, writer.cursor() as cursor:
        ddl = [s for s in create_statements(writer.vendor) if f"TABLE {table} " in s]
        cursor.execute(ddl[0])
