"""The loans', members' and collection's part of the annual figures
(metrics_cache.reports.annual), from the rollups and the copies of member, item and biblio."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from books import rollups
from books.models import BiblioCopy, ItemCopy, LoanDay, LoanFact, MemberCopy
from metrics_cache.reports.models import LookupCopy
from metrics_cache.reports.periods import Period
from metrics_cache.rollups import engine

# The LookupCopy row holding the last count of copies never borrowed (its `rows`).
NEVER_BORROWED = "never_borrowed"


def _local_bounds(period: Period) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(period.since, time.min, tzinfo=zone)
    end = datetime.combine(period.until + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def count_never_borrowed() -> int:
    """Copies existing now (in the copy of item) that no folded loan names: a scan of every
    loan's fact, so the copy job counts it (metrics_cache.reports.catalog.copy_lookups) and
    the annual figures read its last count."""
    lent = LoanFact.objects.filter(generation=rollups.generation(), item__isnull=False)
    return ItemCopy.objects.exclude(item_key__in=lent.values("item")).count()


def store_never_borrowed() -> None:
    """Counts the copies never borrowed and keeps the count (after each pass of the copies)."""
    if engine.live_state(rollups.SOURCE_NAME) is None:
        return
    LookupCopy.objects.update_or_create(
        kind=NEVER_BORROWED,
        defaults={"table": "item", "rows": count_never_borrowed(), "copied_at": timezone.now()},
    )


def never_borrowed() -> int | None:
    """The last count of count_never_borrowed (None before the first)."""
    record = LookupCopy.objects.filter(kind=NEVER_BORROWED).first()
    return None if record is None or record.copied_at is None else record.rows


def figures(period: Period) -> dict:
    """members, new_members, loans, borrowers, titles, items, titles_added, items_added,
    items_never_borrowed and loans_by_month, for a year (or this year to yesterday)."""
    generation = rollups.generation()
    in_period = {"generation": generation, "day__gte": period.since, "day__lte": period.until}
    loans_by_month = dict.fromkeys(range(1, 13), 0)
    for day, total in LoanDay.objects.filter(**in_period).values_list("day", "total"):
        loans_by_month[day.month] += total
    borrowers = rollups.borrowers_counted(period.since, period.until)
    year_end = period.since.replace(month=12, day=31)
    members = MemberCopy.objects.filter(
        registered__lte=year_end, expire_date__gte=period.since
    ).count()
    new_members = MemberCopy.objects.filter(
        registered__gte=period.since, registered__lte=period.until
    ).count()
    start, end = _local_bounds(period)
    added = Q(input_date__gte=start, input_date__lt=end)
    return {
        "members": members,
        "new_members": new_members,
        "loans": sum(loans_by_month.values()),
        "borrowers": borrowers,
        "titles": BiblioCopy.objects.count(),
        "items": ItemCopy.objects.count(),
        "titles_added": BiblioCopy.objects.filter(added).count(),
        "items_added": ItemCopy.objects.filter(added).count(),
        "items_never_borrowed": never_borrowed(),
        "loans_by_month": [{"month": m, "total": n} for m, n in loans_by_month.items()],
    }
