"""visitor_count folded into visits per day and visits per visitor (metrics_cache.rollups)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.library import own_tables
from metrics_cache.rollups import engine, reads, tallies
from metrics_cache.rollups.models import RollupState
from metrics_cache.rollups.tallies import CollationKey, key_digest
from visitors.models import (
    Visit,
    VisitDay,
    VisitHour,
    VisitHourMonth,
    VisitMemberDay,
    VisitorTally,
)
from visitors.selectors import TopVisitor, local_day_start, rank_visitor

SOURCE_NAME = "visits"


def _rows():
    return (
        Visit.objects.annotate(member_or_blank=Coalesce("member_id", Value("")))
        .annotate(
            # Compared by the library database, so '' and NULL (and ' ') are guests there too.
            guest=ExpressionWrapper(
                Q(member_or_blank=""),
                output_field=BooleanField(),  # pragma: no mutate (Django types a Q as boolean)
            ),
            member_key=CollationKey("member_id"),
            name_key=CollationKey("member_name"),
            institution_key=CollationKey("institution"),
        )
        .values_list(
            "visitor_id",
            "checkin_date",
            "member_id",
            "member_name",
            "institution",
            "guest",
            "member_key",
            "name_key",
            "institution_key",
            "room_code",
        )
    )


def room_code(code: str | None) -> str:
    """A room code as SLiMS's case-insensitive, space-padded collation compares it."""
    return (code or "").rstrip().upper()


# Visitor keys: a guest's by name and institution, a member's by member id.
GUEST, MEMBER = "g:", "m:"


def visitor_key(guest: bool, member_key: str | None, name_key: str, institution_key: str | None):
    if guest:
        return GUEST + key_digest(name_key, institution_key)
    return MEMBER + key_digest(member_key)


TALLIES = tallies.TallyTable(
    VisitorTally,
    ("total", "last_checkin", "last_visitor_id", "member_id", "member_name", "institution"),
    order=2,  # the latest visit: by checkin_date, then visitor_id
)


HOURS = tallies.CountTable(VisitHour, ("day", "weekday", "hour", "has_room", "room_code", "guest"))
MONTHS = tallies.CountTable(
    VisitHourMonth, ("month", "weekday", "hour", "has_room", "room_code", "guest")
)
MEMBER_DAYS = tallies.CountTable(VisitMemberDay, ("day", "member"))


def by_month(hours: dict[tuple, int]) -> dict[tuple, int]:
    """Hourly counts (HOURS.columns) summed per month (MONTHS.columns)."""
    months: dict[tuple, int] = {}
    for (day, *rest), total in hours.items():
        slot = (day.replace(day=1), *rest)
        months[slot] = months.get(slot, 0) + total
    return months


def _count_breakdowns(hours: dict, member_days: dict, local, room, guest: bool, mkey) -> None:
    """Counts one visit (at local time `local`) in its hour, room and audience, and in its
    member's day."""
    day = local.date()
    slot = (day, day.isoweekday(), local.hour, room is not None, room_code(room), guest)
    hours[slot] = hours.get(slot, 0) + 1
    if not guest:
        member_day = (day, key_digest(mkey))
        member_days[member_day] = member_days.get(member_day, 0) + 1


def _fold(generation: int, chunk: list[tuple], today: date) -> date:
    days: dict[date, list[int]] = {}
    hours: dict[tuple, int] = {}  # HOURS.columns -> visits
    member_days: dict[tuple, int] = {}  # MEMBER_DAYS.columns -> visits
    slots: dict[tuple, list] = {}  # slot -> TALLIES.columns
    # The library's zone. astimezone(None) would take the process's, which Django sets to
    # TIME_ZONE, and TIME_ZONE is LIBRARY_TIME_ZONE: the same zone.
    zone = timezone.get_current_timezone()  # pragma: no mutate
    for vid, checkin, member_id, name, institution, guest, mkey, nkey, ikey, room in chunk:
        local = checkin.astimezone(zone)  # pragma: no mutate
        day = local.date()
        tallies.count_day(days, day, vid)
        _count_breakdowns(hours, member_days, local, room, guest, mkey)
        tallies.add_row(
            slots, TALLIES, day=day, today=today, key=visitor_key(guest, mkey, nkey, ikey),
            values=[1, checkin, vid, None if guest else member_id, name, institution],
        )  # fmt: skip
    tallies.add_days(VisitDay, generation, days)
    tallies.add_counts(HOURS, generation, hours)
    tallies.add_counts(MONTHS, generation, by_month(hours))
    tallies.add_counts(MEMBER_DAYS, generation, member_days)
    tallies.upsert_tallies(TALLIES, generation, slots)
    return min(days)


SOURCE = engine.Source(
    SOURCE_NAME,
    Visit,
    _rows,
    _fold,
    VisitDay,
    TALLIES,
    counts=(VisitHour, VisitHourMonth, VisitMemberDay),
)


# --- reading the rollups ----------------------------------------------------------------------
def generation() -> int:
    state = engine.live_state(SOURCE_NAME)
    if state is None:
        # Never reached: every caller checks the rollups are built (RunContext.from_rollups).
        raise LookupError("the visit rollups are not built")  # pragma: no mutate
    return state.generation


def daily_visit_totals(*, since: date, until: date) -> dict[date, int]:
    """{local date: visits} for since..until inclusive; days without visits are absent."""
    rows = VisitDay.objects.filter(generation=generation(), day__gte=since, day__lte=until)
    return {day: total for day, total in rows.values_list("day", "total") if total}


def top_visitors(*, since: date, until: date, limit: int = 10) -> list[TopVisitor]:
    """As visitors.selectors.top_visitors, from the rollups."""
    if since > until:
        return []
    rows = VisitorTally.objects.filter(generation=generation())
    candidates = reads.top_totals(rows, since, until, limit)
    latest = reads.latest_details(TALLIES, rows, candidates, since, until)
    visitors = [
        TopVisitor(member_id, name, institution, candidates[key])
        for key, (_, _, _, member_id, name, institution) in latest.items()
    ]
    visitors.sort(key=rank_visitor)
    return visitors[:limit]


def members_counted(year: date, until: date) -> int:
    """Distinct members (member ids) with visits from 1 January of `year` to `until`, from the
    year's tallies."""
    return reads.keys_counted(
        VisitorTally.objects.filter(generation=generation()), MEMBER, year, until
    )


def visits_on(day: date, in_generation: int) -> int:
    """Folded visits dated `day` in generation `in_generation`."""
    found = VisitDay.objects.filter(generation=in_generation, day=day).values_list("total")[:1]
    return found[0][0] if found else 0


def visits_dated_between_ids(*, after_id: int, upto_id: int, day: date) -> int:
    """Visits dated `day` with after_id < visitor_id <= upto_id (rows not folded yet)."""
    start, end = local_day_start(day), local_day_start(day + timedelta(days=1))
    return Visit.objects.filter(
        visitor_id__gt=after_id,
        visitor_id__lte=upto_id,
        checkin_date__gte=start,
        checkin_date__lt=end,
    ).count()


def recount_day(state: RollupState, day: date) -> tuple[int, int] | None:
    """Recounts `day` in SLiMS over the id range of its folded rows and stores the truth
    (rows deleted or re-dated since they were folded). (before, after), or None if a fold
    moved the watermark meanwhile (the caller tries again later)."""
    row = VisitDay.objects.filter(generation=state.generation, day=day).first()
    if row is None:
        return (0, 0)
    watermark = state.last_id
    start, end = local_day_start(day), local_day_start(day + timedelta(days=1))
    exact = Visit.objects.filter(
        visitor_id__gte=row.first_id,
        visitor_id__lte=watermark,
        checkin_date__gte=start,
        checkin_date__lt=end,
    ).count()
    with transaction.atomic(using=own_tables()):
        unchanged = RollupState.objects.filter(pk=state.pk, last_id=watermark).update(
            updated_at=timezone.now()
        )
        if not unchanged:
            return None
        before = VisitDay.objects.get(pk=row.pk).total
        VisitDay.objects.filter(pk=row.pk).update(total=exact)
        if before != exact:
            _recount_breakdowns(state.generation, day, row.first_id, watermark)
            if day < timezone.localdate():
                engine.bump_past_revision(state)
    return before, exact


def _recount_breakdowns(generation: int, day: date, first_id: int, watermark: int) -> None:
    """Replaces the day's hourly and member counts by those of its rows in SLiMS now, so that
    the reports' breakdowns still add up to the recounted day (inside the caller's
    transaction)."""
    start, end = local_day_start(day), local_day_start(day + timedelta(days=1))
    rows = _rows().filter(
        visitor_id__gte=first_id,
        visitor_id__lte=watermark,
        checkin_date__gte=start,
        checkin_date__lt=end,
    )
    hours: dict[tuple, int] = {}
    member_days: dict[tuple, int] = {}
    zone = timezone.get_current_timezone()  # pragma: no mutate (as in _fold)
    for _, checkin, _, _, _, guest, mkey, _, _, room in rows:
        _count_breakdowns(hours, member_days, checkin.astimezone(zone), room, guest, mkey)
    before = VisitHour.objects.filter(generation=generation, day=day)
    change = by_month(hours)
    for slot, total in by_month(dict(_stored(before))).items():
        change[slot] = change.get(slot, 0) - total
    for model in (VisitHour, VisitMemberDay):
        model.objects.filter(generation=generation, day=day).delete()
    tallies.add_counts(HOURS, generation, hours)
    tallies.add_counts(MONTHS, generation, change)
    tallies.add_counts(MEMBER_DAYS, generation, member_days)
    VisitDay.objects.filter(generation=generation, day=day).update(breakdowns_stale=True)


def _stored(rows) -> list[tuple[tuple, int]]:
    return [(tuple(slot), total) for *slot, total in rows.values_list(*HOURS.columns, "total")]
