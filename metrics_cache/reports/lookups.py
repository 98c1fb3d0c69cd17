"""The service's copy of SLiMS's small lookup tables: read whole (each holds a few dozen rows,
one short statement) by a scheduled job, never in a request. A table that is missing or not
granted leaves the reports showing codes without names, and says which GRANT would fix it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.models import Sum
from django.utils import timezone

from config.library import current, own_tables
from metrics_cache.reports.models import LookupCopy, LookupName

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookup:
    """A SLiMS table of names: `code` and `name` are its columns; `normalize` writes a code as
    the report's items carry it."""

    kind: str
    model: type[models.Model]
    code: str
    name: str
    normalize: Callable[[str], str] = str

    @property
    def table(self) -> str:
        return self.model._meta.db_table


def grant_statement(table: str) -> str:
    library = settings.DATABASES[current().alias]
    user = library.get("USER") or "dashboard"
    return f"GRANT SELECT ON `{library['NAME']}`.`{table}` TO '{user}'@'%';"


def copy_record(kind: str, table: str) -> LookupCopy:
    record, _ = LookupCopy.objects.get_or_create(kind=kind)
    record.table = table  # saved with the copy's outcome
    return record


def failed(record: LookupCopy, exc: DatabaseError, consequence: str) -> LookupCopy:
    """Records why a table could not be copied, with the GRANT that would fix it."""
    reason = exc.args[-1] if exc.args else exc
    record.error = (
        f"{record.table} cannot be read ({reason}): {consequence}. "
        f"For a DBA: {grant_statement(record.table)}"
    )
    record.save()
    logger.warning("copy of %s failed: %s", record.table, record.error)
    return record


def copy(lookup: Lookup) -> LookupCopy:
    """Copies one lookup table; records the failure instead when it cannot be read."""
    record = copy_record(lookup.kind, lookup.table)
    try:
        rows = list(lookup.model.objects.values_list(lookup.code, lookup.name))
    except DatabaseError as exc:
        return failed(record, exc, "reports show its codes without names")
    names = {lookup.normalize(str(code)): name for code, name in rows}
    stored = dict(LookupName.objects.filter(kind=lookup.kind).values_list("code", "name"))
    now = timezone.now()
    if names != stored:
        with transaction.atomic(using=own_tables()):
            LookupName.objects.filter(kind=lookup.kind).delete()
            LookupName.objects.bulk_create(
                LookupName(kind=lookup.kind, code=code, name=name) for code, name in names.items()
            )
        record.changed_at = now
        record.changes += 1  # pragma: no mutate (read only for a change: revision())
    record.copied_at, record.rows, record.error = now, len(names), ""
    record.save()
    return record


def names(kind: str) -> dict[str, str | None]:
    """{code: name} of one lookup table as last copied, ordered by code."""
    return dict(LookupName.objects.filter(kind=kind).order_by("code").values_list("code", "name"))


def revision() -> str:
    """Changes whenever a copied name changes (the reports' cache keys carry it)."""
    # Compared only for a change: the count before the first copy could be any number.
    changes = LookupCopy.objects.aggregate(changes=Sum("changes"))["changes"]
    return str(changes or 0)  # pragma: no mutate


def status() -> dict[str, str]:
    """{table: "ok", or why it could not be copied with its GRANT} of every copy made."""
    copies = LookupCopy.objects.order_by("table").values_list("table", "error")
    return {table: error or "ok" for table, error in copies}
