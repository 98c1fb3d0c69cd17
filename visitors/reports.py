"""The visits report's breakdowns (metrics_cache.reports), from the visit rollups."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.db.models import Sum

from metrics_cache.reports import breakdowns, lookups
from metrics_cache.reports.catalog import Breakdown, Report, by_weekday, named_by_total
from metrics_cache.reports.lookups import Lookup
from metrics_cache.reports.periods import Period
from metrics_cache.rollups.tallies import next_month
from visitors import annual, rollups
from visitors.models import (
    VisitBreakdown,
    VisitDay,
    VisitHour,
    VisitHourMonth,
    VisitMemberDay,
    VisitorRoom,
)

HOURS, WEEKDAYS = range(24), range(1, 8)


def _daily(since, until):
    return rollups.daily_visit_totals(since=since, until=until)


def _counts(period: Period, *fields: str) -> Counter:
    """{values of `fields`: visits} over the period, from the hourly rollups: its whole months
    from their monthly sums, the days before and after them one by one."""
    generation = rollups.generation()
    counts: Counter = Counter()

    def add(rows) -> None:
        for *values, visits in rows.values_list(*fields).annotate(n=Sum("total")).order_by():
            counts[tuple(values)] += visits

    # Any split into whole months and edge days adds up alike (the tests compare them with the
    # days one by one); these lines pick the one that reads fewest rows.
    first = period.since if period.since.day == 1 else next_month(period.since)  # pragma: no mutate
    end = period.until + timedelta(days=1)  # pragma: no mutate
    after = end if end.day == 1 else period.until.replace(day=1)  # pragma: no mutate
    edges = [(period.since, period.until)]
    if first < after:  # pragma: no mutate
        add(VisitHourMonth.objects.filter(generation=generation, month__gte=first,
                                          month__lt=after))  # fmt: skip
        edges = [(period.since, first - timedelta(days=1)), (after, period.until)]
    for since, until in edges:
        if since <= until:
            add(VisitHour.objects.filter(generation=generation, day__gte=since, day__lte=until))
    return counts


def by_hour(period: Period) -> Breakdown:
    counts = _counts(period, "hour")
    return Breakdown([{"hour": h, "total": counts[(h,)]} for h in HOURS], ("hour",))


def by_weekday_hour(period: Period) -> Breakdown:
    counts = _counts(period, "weekday", "hour")
    items = [{"weekday": d, "hour": h, "total": counts[(d, h)]} for d in WEEKDAYS for h in HOURS]
    return Breakdown(items, ("weekday", "hour"))


def by_room(period: Period) -> Breakdown:
    """The library's rooms, then codes it has no row for, then visits without a room."""
    counts = _counts(period, "has_room", "room_code")
    names = rooms_named()
    items = [
        {"room_code": code, "room_name": name, "total": counts[(True, code)]}
        for code, name in names.items()
    ]
    # Codes without a row, with visits in the period (a recount can leave a sum at 0).
    unknown = sorted(
        code for (has_room, code), n in counts.items() if has_room and code not in names and n
    )
    items += [{"room_code": code, "room_name": None, "total": counts[(True, code)]}
              for code in unknown]  # fmt: skip
    items.append({"room_code": None, "room_name": None, "total": counts[(False, "")]})
    return Breakdown(items, ("room_code",))


ROOMS = Lookup("room", VisitorRoom, "unique_code", "name", normalize=rollups.room_code)


def rooms_named() -> dict[str, str | None]:
    """{room code: name} of the library's rooms (none until the lookups are first copied)."""
    return lookups.names(ROOMS.kind)


GROUPINGS = breakdowns.Breakdowns(
    source=rollups.SOURCE_NAME,
    days=VisitDay,
    facts=VisitMemberDay,
    count=Sum("total"),
    table=VisitBreakdown,
    dimensions=(breakdowns.Dimension("member_type", "member__member_type_id", decode=int),),
    depends={"members": "member"},
)


def by_member_type(period: Period) -> Breakdown:
    """Members' visits by the member's type now (as SLiMS's own visitor report groups them);
    guests are the envelope's `guests`."""
    counts = breakdowns.counts(GROUPINGS, "member_type", period.since, period.until)
    guests = _counts(period, "guest")[(True,)]
    items = named_by_total(counts, "member_type", "member_type_id", "member_type_name")
    return Breakdown(items, ("member_type_id",), {"guests": guests})


def by_audience(period: Period) -> Breakdown:
    counts = _counts(period, "guest")
    items = [
        {"audience": "member", "total": counts[(False,)]},
        {"audience": "guest", "total": counts[(True,)]},
    ]
    return Breakdown(items, ("audience",))


REPORT = Report(
    name="visits",
    source=rollups.SOURCE_NAME,
    daily=_daily,
    breakdowns={
        "hour": by_hour,
        "weekday": by_weekday(_daily),
        "weekday_hour": by_weekday_hour,
        "room": by_room,
        "audience": by_audience,
        "member_type": by_member_type,
    },
    lookups=(ROOMS,),
    annual=annual.figures,
    groupings=GROUPINGS,
)
