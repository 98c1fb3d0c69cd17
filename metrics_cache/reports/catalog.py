"""The reports, as settings.REPORTS names them: each domain app declares its own (its rollup
source, its days, its breakdowns) beside its rollups, so this room names no domain app."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.utils.module_loading import import_string

from metrics_cache.reports import breakdowns, copies
from metrics_cache.reports.lookups import Lookup, copy, names
from metrics_cache.reports.periods import BUCKETS, Period


@dataclass(frozen=True)
class Breakdown:
    """A report's items over one period: every item zero-filled, in the contract's order, each
    with a "total"; `key` names the fields that identify an item (matched against the same
    breakdown a year earlier); `extra` goes into the envelope (`guests`, `no_member`)."""

    items: list[dict]
    key: tuple[str, ...]
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    name: str
    # The rollup source the report reads (its state keys the cache, its build answers 202).
    source: str
    # {day: rows} over since..until inclusive (days without rows may be absent).
    daily: Callable[[date, date], dict[date, int]]
    # Breakdowns other than the calendar's (BUCKETS): {by: f(period) -> Breakdown}.
    breakdowns: dict[str, Callable[[Period], Breakdown]]
    # The SLiMS tables of names its breakdowns show (copied by copy_lookups).
    lookups: tuple[Lookup, ...] = ()
    # The big SLiMS tables it groups by, copied in chunks (metrics_cache.reports.copies).
    copies: tuple[copies.Copy, ...] = ()
    # Its part of the annual figures over a year's period (metrics_cache.reports.annual).
    annual: Callable[[Period], dict] | None = None
    # Work after each fold (the circulation's re-read of open loans).
    after_fold: Callable[[], object] | None = None
    # The circulation figures now ({...} or None before the first re-read).
    circulation: Callable[[date], dict | None] | None = None
    # Its groupings by what members, copies and titles are now, counted per day.
    groupings: breakdowns.Breakdowns | None = None
    # Work after each pass of the copies (the count of copies never borrowed).
    after_copies: Callable[[], object] | None = None

    @property
    def bys(self) -> tuple[str, ...]:
        return (*BUCKETS, *self.breakdowns)


@functools.cache
def _load(paths: tuple[str, ...]) -> dict[str, Report]:
    loaded = [import_string(path) for path in paths]
    return {report.name: report for report in loaded}


def reports() -> dict[str, Report]:
    return _load(tuple(settings.REPORTS))


def copy_lookups() -> dict[str, str]:
    """Copies every report's lookup tables and big tables' columns: {table: "" or why it
    could not be read}."""
    done = {}
    for report in reports().values():
        for lookup in report.lookups:
            done[lookup.table] = copy(lookup).error
        for table in report.copies:
            record = copies.refresh(table)
            done[table.table] = record.error
            changed = getattr(record, "changed_keys", [])
            for other in reports().values():
                if other.groupings is not None:
                    breakdowns.mark_changed(other.groupings, table.kind, changed)
        if report.after_copies is not None:
            report.after_copies()
    return done


def after_folds(today: date) -> bool:
    """Every report's work after a fold: the closed days' breakdowns counted again where
    stale, the circulation re-read; False when one could not run yet (its rollups are still
    being built)."""
    done = True
    for report in reports().values():
        if report.groupings is not None:
            breakdowns.refresh(report.groupings, until=today - timedelta(days=1))
        if report.after_fold is not None:
            done = report.after_fold() is not None and done
    return done


def circulation(today: date) -> dict | None:
    for report in reports().values():
        if report.circulation is not None:
            return report.circulation(today)
    return None


def sources() -> tuple[str, ...]:
    """The rollup sources the reports read."""
    return tuple(dict.fromkeys(report.source for report in reports().values()))


def by_weekday(daily: Callable[[date, date], dict[date, int]]):
    """The breakdown by ISO weekday (1 = Monday) of a report's days."""

    def breakdown(period: Period) -> Breakdown:
        counts = dict.fromkeys(range(1, 8), 0)
        for day, total in daily(period.since, period.until).items():
            counts[day.isoweekday()] += total
        return Breakdown([{"weekday": d, "total": n} for d, n in counts.items()], ("weekday",))

    return breakdown


def named_by_total(counts: dict, kind: str, id_field: str, name_field: str) -> list[dict]:
    """Items of codes with their names (the `kind` lookup), higher total first (then by code),
    the null code last."""
    named = names(kind)
    known = sorted((c for c in counts if c is not None), key=lambda c: (-counts[c], str(c)))
    items = [{id_field: c, name_field: named.get(str(c)), "total": counts[c]} for c in known]
    if None in counts:
        items.append({id_field: None, name_field: None, "total": counts[None]})
    return items
