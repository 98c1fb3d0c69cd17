"""The loans report's breakdowns (metrics_cache.reports), from the loan rollups and the copies of
the member, item and biblio tables: a loan counts under what its copy, title and member are
now (codes and names as SLiMS has them at report time)."""

from __future__ import annotations

import re

from django.db.models import Count, Q

from books import annual, circulation, rollups
from books.models import (
    Biblio,
    BiblioCopy,
    CollectionType,
    Item,
    ItemCopy,
    LoanBreakdown,
    LoanDay,
    LoanFact,
    Location,
    Member,
    MemberCopy,
    MemberType,
)
from metrics_cache.reports import breakdowns
from metrics_cache.reports.catalog import Breakdown, Report, by_weekday, named_by_total
from metrics_cache.reports.copies import Copy
from metrics_cache.reports.lookups import Lookup
from metrics_cache.reports.periods import Period
from metrics_cache.rollups.tallies import CollationKey, key_digest

MEMBER_TYPES = Lookup("member_type", MemberType, "member_type_id", "member_type_name")
COLLECTION_TYPES = Lookup("coll_type", CollectionType, "coll_type_id", "coll_type_name")
LOCATIONS = Lookup("location", Location, "location_id", "location_name")
DEWEY_CLASSES = [f"{digit}00" for digit in range(10)]
# Leading spaces, then a digit (ASCII: Dewey's, not another script's).
_DEWEY_FIRST = re.compile(r"\s*([0-9])")


def dewey_class(classification: str | None) -> str | None:
    """ "200" for "2X1.1" or " 297.3": the first character after leading spaces, if a digit;
    None for anything else (empty, FIC, R 001)."""
    match = _DEWEY_FIRST.match(classification) if classification else None
    return f"{match.group(1)}00" if match else None


def _members():
    return Member.objects.annotate(member_key=CollationKey("member_id")).values_list(
        "member_id", "member_key", "member_type_id", "register_date", "member_since_date",
        "input_date", "expire_date",
    )  # fmt: skip


def _items():
    return Item.objects.annotate(item_key=CollationKey("item_code")).values_list(
        "item_id", "item_code", "item_key", "biblio_id", "coll_type_id", "location_id",
        "input_date",
    )  # fmt: skip


MEMBERS = Copy(
    "members",
    Member,
    _members,
    MemberCopy,
    ("member_key", "member_id", "member_type_id", "registered", "expire_date"),
    lambda r: (key_digest(r[1]), r[0], r[2], r[3] or r[4] or r[5], r[6]),
)
ITEMS = Copy(
    "items",
    Item,
    _items,
    ItemCopy,
    ("item_key", "item_id", "biblio", "coll_type_id", "location_id", "input_date"),
    lambda r: (f"id:{r[0]}" if r[1] is None else key_digest(r[2]), r[0], *r[3:]),
)
BIBLIOS = Copy(
    "biblios",
    Biblio,
    lambda: Biblio.objects.values_list("biblio_id", "classification", "input_date"),
    BiblioCopy,
    ("biblio_id", "dewey_class", "input_date"),
    lambda r: (r[0], dewey_class(r[1]), r[2]),
)


def _daily(since, until):
    return rollups.daily_loan_totals(since=since, until=until)


GROUPINGS = breakdowns.Breakdowns(
    source=rollups.SOURCE_NAME,
    days=LoanDay,
    facts=LoanFact,
    count=Count("loan_id"),
    table=LoanBreakdown,
    dimensions=(
        # Every loan: those without a member are under None too (filtering them out here
        # would make the join to the copy an inner one and lose members whose row is gone).
        breakdowns.Dimension("member_type", "member__member_type_id", decode=int),
        breakdowns.Dimension("no_member", None, Q(member__isnull=True)),
        breakdowns.Dimension("coll_type", "item__coll_type_id", decode=int),
        breakdowns.Dimension("location", "item__location_id"),
        breakdowns.Dimension("class", "item__biblio__dewey_class"),
    ),
    depends={"members": "member", "items": "item", "biblios": "item__biblio"},
)


def _counts(period: Period, dimension: str) -> dict:
    return breakdowns.counts(GROUPINGS, dimension, period.since, period.until)


def by_member_type(period: Period) -> Breakdown:
    """The borrower's type now; loans without a member are the envelope's `no_member`."""
    counts = _counts(period, "member_type")
    no_member = sum(_counts(period, "no_member").values())
    counts[None] = counts.get(None, 0) - no_member
    if not counts[None]:
        del counts[None]
    items = named_by_total(counts, MEMBER_TYPES.kind, "member_type_id", "member_type_name")
    return Breakdown(items, ("member_type_id",), {"no_member": no_member})


def by_collection_type(period: Period) -> Breakdown:
    counts = _counts(period, "coll_type")
    items = named_by_total(counts, COLLECTION_TYPES.kind, "coll_type_id", "coll_type_name")
    return Breakdown(items, ("coll_type_id",))


def by_location(period: Period) -> Breakdown:
    counts = _counts(period, "location")
    return Breakdown(
        named_by_total(counts, LOCATIONS.kind, "location_id", "location_name"), ("location_id",)
    )


def by_class(period: Period) -> Breakdown:
    """The ten Dewey main classes, then null (no copy, no title, not a Dewey number)."""
    counts = _counts(period, "class")
    items = [{"class": c, "total": counts.get(c, 0)} for c in DEWEY_CLASSES]
    items.append({"class": None, "total": counts.get(None, 0)})
    return Breakdown(items, ("class",))


REPORT = Report(
    name="loans",
    source=rollups.SOURCE_NAME,
    daily=_daily,
    breakdowns={
        "weekday": by_weekday(_daily),
        "member_type": by_member_type,
        "collection_type": by_collection_type,
        "location": by_location,
        "class": by_class,
    },
    lookups=(MEMBER_TYPES, COLLECTION_TYPES, LOCATIONS),
    copies=(MEMBERS, ITEMS, BIBLIOS),
    annual=annual.figures,
    after_fold=circulation.refresh,
    circulation=circulation.now,
    groupings=GROUPINGS,
    after_copies=annual.store_never_borrowed,
)
