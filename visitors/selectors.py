"""Reads of visitor_count. Date ranges are on the raw column (no function of it in WHERE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Q, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from config.library import at_or_above_cutoff, first_id_dated_from
from visitors.models import Visit

# Rows dated up to this much earlier than the rows inserted after them (manual entries, clock
# fixes) are still found when a date range is bounded through the primary key.
ID_ORDER_SLACK = timedelta(days=2)


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the library's zone (LIBRARY_TIME_ZONE is Django's active zone)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def visits_between(*, start: date, end: date, id_from: int | None = None):
    """Visits from the start of `start` up to (not including) the start of `end`, local time."""
    visits = Visit.objects.filter(
        checkin_date__gte=local_day_start(start), checkin_date__lt=local_day_start(end)
    )
    return visits if id_from is None else visits.filter(visitor_id__gte=id_from)


def visits_on(*, day: date) -> int:
    return visits_between(start=day, end=day + timedelta(days=1)).count()


def first_visit_id_from(day: date, *, only_if_narrow: bool = True) -> int | None:
    """A visitor_id below which no visit dated `day` or later is expected (see ID_ORDER_SLACK)."""
    return first_id_dated_from(
        Visit,
        date_field="checkin_date",
        moment=local_day_start(day) - ID_ORDER_SLACK,
        only_if_narrow=only_if_narrow,
    )


def daily_totals_query(*, since: date, until: date):
    """(local date, visits) rows for since..until inclusive."""
    return (
        visits_between(
            start=since, end=until + timedelta(days=1), id_from=first_visit_id_from(since)
        )
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
    visitors.sort(key=_rank)
    return visitors[:limit]


def visitor_totals_queries(*, since: date, until: date):
    """(member_id, visits) rows for members; (name, institution, visits) rows for guests.

    Two statements rather than one grouped by CASE expressions: MariaDB groups one key at a
    time several times faster (BENCHMARKS.md). COALESCE keeps MariaDB off the member_id index
    for guests: reading a million rows one by one through it is three times slower than the
    scan.
    """
    visits = visits_between(
        start=since, end=until + timedelta(days=1), id_from=first_visit_id_from(since)
    ).annotate(member_or_blank=Coalesce("member_id", Value("")))
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
        .values("member_name", "institution")
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


def _rank(visitor: TopVisitor) -> tuple:
    name = visitor.member_name
    return (
        -visitor.total,
        name is None,
        (name or "").casefold(),
        visitor.member_id is None,
        visitor.member_id or "",
        (visitor.institution or "").casefold(),
    )


def visits_today_exact(*, today: date) -> tuple[int, int | None, int | None]:
    """(count, first id considered, highest id) of visits dated `today`, exactly.

    No scan of history: the primary key bounds the count to the rows from a little before
    today (ID_ORDER_SLACK) on, and the highest id is read first so the next delta count
    starts exactly where this one stopped.
    """
    last_id = Visit.objects.aggregate(last=Max("visitor_id"))["last"]
    if last_id is None:
        return 0, None, None
    first_id = first_visit_id_from(today, only_if_narrow=False)
    count = (
        visits_between(start=today, end=today + timedelta(days=1), id_from=first_id)
        .filter(visitor_id__lte=last_id)
        .count()
    )
    return count, first_id, last_id


def visits_today_after(*, today: date, after_id: int) -> tuple[int, int]:
    """(visits dated `today` with visitor_id > after_id, highest id seen): a primary-key range.

    Rows that arrive with an id above `after_id` but dated another day (a late manual entry
    for yesterday) are read but not counted; a row dated today that lands below `after_id`
    cannot happen with auto-increment ids, and one dated today far out of id order is
    corrected by the periodic exact recount.
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
