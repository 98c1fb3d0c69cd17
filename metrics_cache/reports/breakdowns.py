"""The reports' groupings by what a member, copy or title is now, counted per day.

Each folded row keeps its keys (a member's, a copy's) in the source's facts; grouping facts
through the copies of member, item and biblio at report time reads every fact of the period.
Instead each day's counts per value (VisitBreakdown, LoanBreakdown) are counted again from
the day's facts whenever the day is stale: rows folded into it, or a member, copy or title
it holds changed in the copies. Counting again, rather than adding and moving, never leaves
a count behind whatever order the folds and the copies come in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import models, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from config.library import own_tables
from metrics_cache.rollups import engine
from metrics_cache.rollups.models import RollupState
from metrics_cache.rollups.tallies import grouped

# Days counted again per transaction (each a few GROUP BYs over the day's facts).
DAYS_PER_TRANSACTION = 31
# More changed keys than this (a first copy, a school year's promotions) make every day stale
# at once: finding their days reads the facts once per few hundred keys.
MANY_KEYS = 2_000


@dataclass(frozen=True)
class Dimension:
    """One grouping: `path` reaches the value from a fact through the copies (None: every
    fact counts under one value), `where` keeps only some facts, `decode` reads a value back."""

    name: str
    path: str | None
    where: Q = field(default_factory=Q)
    decode: Callable[[str], object] = str


def encode(value) -> str:
    return "" if value is None else f"={value}"


@dataclass(frozen=True)
class Breakdowns:
    source: str
    days: type[models.Model]  # the source's DayRollup model (its breakdowns_stale flags)
    facts: type[models.Model]  # one row per folded row, or per member and day (with `total`)
    count: models.Aggregate  # how facts count: Count of rows or Sum of totals
    table: type[models.Model]  # the BreakdownRollup model
    dimensions: tuple[Dimension, ...]
    # {copy kind: the facts' path to that copy's key}: a change there makes its days stale.
    depends: dict[str, str] = field(default_factory=dict)

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)


def _recount(b: Breakdowns, state: RollupState, days: list[date]) -> None:
    with transaction.atomic(using=own_tables()):
        # Serialised with folds by the watermark row, as compaction is: a fold that adds to a
        # day while it is counted marks it stale again after this commits.
        # (SQLite's IMMEDIATE transactions, the tests' service database, serialise already.)
        watermark = RollupState.objects.filter(pk=state.pk)  # pragma: no mutate
        watermark.update(updated_at=timezone.now())  # pragma: no mutate
        b.table.objects.filter(generation=state.generation, day__in=days).delete()
        facts = b.facts.objects.filter(generation=state.generation, day__in=days)
        rows = []
        for dim in b.dimensions:
            chosen = facts.filter(dim.where)
            values = chosen.values_list("day", dim.path) if dim.path else chosen.values_list("day")
            for day, *value, total in values.annotate(n=b.count).order_by():
                rows.append(
                    b.table(generation=state.generation, day=day, dimension=dim.name,
                            value=encode(value[0] if value else None), total=total)
                )  # fmt: skip
        b.table.objects.bulk_create(rows)
        b.days.objects.filter(generation=state.generation, day__in=days).update(
            breakdowns_stale=False
        )


def refresh(b: Breakdowns, *, since: date | None = None, until: date) -> int:
    """Counts again every stale day of the live rollups in since..until; how many."""
    state = engine.live_state(b.source)
    if state is None:
        return 0
    # Another generation's stale days counted with the live one's facts would only count live
    # days again, to the same counts.
    day_rows = b.days.objects
    stale = day_rows.filter(generation=state.generation, breakdowns_stale=True)  # pragma: no mutate
    stale = stale.filter(day__lte=until)
    if since is not None:
        stale = stale.filter(day__gte=since)
    days = list(stale.order_by("day").values_list("day", flat=True))
    # (Transactions of any size count the same.)
    for batch in grouped(days, DAYS_PER_TRANSACTION):  # pragma: no mutate
        _recount(b, state, batch)
    return len(days)


def mark_changed(b: Breakdowns, kind: str, keys: list) -> None:
    """The days holding facts of `keys` (of the `kind` copy) are to be counted again."""
    path = b.depends.get(kind)
    state = engine.live_state(b.source)
    if path is None or state is None or not keys:
        return
    if len(keys) > MANY_KEYS:
        b.days.objects.filter(generation=state.generation).update(breakdowns_stale=True)
        return
    for batch in grouped(keys):
        days = b.facts.objects.filter(generation=state.generation, **{f"{path}__in": batch})
        b.days.objects.filter(
            generation=state.generation, day__in=days.values("day").distinct()
        ).update(breakdowns_stale=True)


def counts(b: Breakdowns, dimension: str, since: date, until: date) -> dict:
    """{value (None for none): rows} of one dimension over since..until, its stale days counted
    again first (the service's own tables: no statement on SLiMS)."""
    # Counting every stale day up to `until`, not only from `since`, gives the same counts.
    refresh(b, since=since, until=until)  # pragma: no mutate
    dim = b.dimension(dimension)
    state = engine.live_state(b.source)
    rows = b.table.objects.filter(
        generation=state.generation, dimension=dimension, day__gte=since, day__lte=until
    )
    totals = rows.values_list("value").annotate(n=Sum("total")).order_by()
    return {(dim.decode(value[1:]) if value else None): total for value, total in totals}
