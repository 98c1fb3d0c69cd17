"""Reads of visitor_count. Date ranges are on the raw column (no function of it in WHERE).

These scan the table (SLiMS has no index on checkin_date): snapshots use them only until the
rollups are built (visitors.rollups); ids never bound what they count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Min, Q, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from metrics_cache.base.ranking import at_or_above_cutoff
from visitors.models import Visit


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the library's zone (LIBRARY_TIME_ZONE is Django's active zone)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def visits_between(*, start: date, end: date):
    """Visits from the start of `start` up to (not including) the start of `end`, local time."""
    return Visit.objects.filter(
        checkin_date__gte=local_day_start(start), checkin_date__lt=local_day_start(end)
    )


def visits_on(*, day: date) -> int:
    return visits_between(start=day, end=day + timedelta(days=1)).count()


def daily_totals_query(*, since: date, until: date):
    """(local date, visits) rows for since..until inclusive."""
    return (
        visits_between(start=since, end=until + timedelta(days=1))
        .annotate(day=TruncDate("checkin_date"))
        .values("day")
        .annotate(total=Count("visitor_id"))
        .order_by()
        .values_list("day", "total")
    )


def daily_visit_totals(*, since: date, until: date) -> dict[date, int]:
    """{local date: visits} for since..until inclusive; days without visits are absent."""
    return dict(daily_totals_query(since=since, until=until))


@dataclass(frozen=True)
class TopVisitor:
    member_id: str | None
    member_name: str | None
    institution: str | None
    total: int


def top_visitors(*, since: date, until: date, limit: int = 10) -> list[TopVisitor]:
    """The most frequent visitors in since..until (local dates, inclusive).

    Members are grouped by member_id and named by their latest visit in the period; visitors
    without a member id (NULL or '') by name and institution, as the database's collation
    compares them (SLiMS: utf8_unicode_ci, case-insensitive). Ties: total, name, id.
    """
    if since > until:
        return []
    members, guests = visitor_totals_queries(since=since, until=until)
    groups = [(member, None, None, total) for member, total in members]
    groups += [(None, name, institution, total) for name, institution, total in guests]
    candidates = at_or_above_cutoff(groups, total=lambda group: group[3], limit=limit)
    latest = _latest_member_details(
        [member for member, *_ in candidates if member is not None], since=since, until=until
    )
    visitors = [
        TopVisitor(member, *latest.get(member, (None, None)), total)
        if member is not None
        else TopVisitor(None, name, institution, total)
        for member, name, institution, total in candidates
    ]
    visitors.sort(key=rank_visitor)
    return visitors[:limit]


def visitor_totals_queries(*, since: date, until: date):
    """(member_id, visits) rows for members; (name, institution, visits) rows for guests.

    Two statements rather than one grouped by CASE expressions: MariaDB groups one key at a
    time several times faster (BENCHMARKS.md). COALESCE keeps MariaDB off the member_id index
    for guests: reading a million rows one by one through it is three times slower than the
    scan.
    """
    visits = visits_between(start=since, end=until + timedelta(days=1)).annotate(
        member_or_blank=Coalesce("member_id", Value(""))
    )
    no_member_id = Q(member_or_blank="")
    members = (
        visits.exclude(no_member_id)
        .values("member_id")
        .annotate(total=Count("visitor_id"))
        .order_by()
        .values_list("member_id", "total")
    )
    guests = (
        visits.filter(no_member_id)
        # values_list selects both below, and Django groups by every selected column.
        .values("member_name", "institution")  # pragma: no mutate
        .annotate(total=Count("visitor_id"))
        .order_by()
        .values_list("member_name", "institution", "total")
    )
    return members, guests


def _latest_member_details(
    member_ids: list[str], *, since: date, until: date
) -> dict[str, tuple[str, str | None]]:
    """{member_id: (member_name, institution)} from each member's latest visit in the period."""
    if not member_ids:
        return {}
    rows = (
        visits_between(start=since, end=until + timedelta(days=1))
        .filter(member_id__in=member_ids)  # SLiMS indexes member_id
        .order_by("checkin_date", "visitor_id")
        .values_list("member_id", "member_name", "institution")
    )
    return {member: (name, institution) for member, name, institution in rows}


def rank_visitor(visitor: TopVisitor) -> tuple:
    """Ties: total, then name (None last), then member id (guests last), then institution."""
    name = visitor.member_name
    return (
        -visitor.total,
        name is None,  # pragma: no mutate (a top visitor's name is never None: NOT NULL)
        (name or "").casefold(),
        visitor.member_id is None,
        # Only guests tie this far, all with None: any stand-in is equal among them.
        visitor.member_id or "",  # pragma: no mutate
        (visitor.institution or "").casefold(),
    )


def visits_today_exact(*, today: date) -> tuple[int, int | None, int | None]:
    """(count, lowest id, highest id) of visits dated `today`, by a scan of the table.

    The highest id is read first and bounds the count, so a delta count from it on neither
    misses nor repeats a row inserted meanwhile.
    """
    last_id = Visit.objects.aggregate(last=Max("visitor_id"))["last"]
    if last_id is None:
        return 0, None, None
    row = (
        visits_between(start=today, end=today + timedelta(days=1))
        .filter(visitor_id__lte=last_id)
        .aggregate(count=Count("visitor_id"), first=Min("visitor_id"))
    )
    return row["count"], row["first"], last_id


def visits_today_after(*, today: date, after_id: int) -> tuple[int, int]:
    """(visits dated `today` with visitor_id > after_id, highest id seen): a primary-key range.

    Rows above `after_id` dated another day (a late manual entry for yesterday) are read but
    not counted.
    """
    start, end = local_day_start(today), local_day_start(today + timedelta(days=1))
    row = Visit.objects.filter(visitor_id__gt=after_id).aggregate(
        last=Max("visitor_id"),
        today=Count(
            "visitor_id",
            filter=Q(checkin_date__gte=start, checkin_date__lt=end),
        ),
    )
    return row["today"], row["last"] or after_id
