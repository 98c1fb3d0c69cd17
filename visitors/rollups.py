"""visitor_count folded into visits per day and visits per visitor (metrics_cache.rollups)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from metrics_cache.rollups import engine, reads, tallies
from metrics_cache.rollups.models import RollupState
from metrics_cache.rollups.tallies import CollationKey, key_digest
from visitors.models import Visit, VisitDay, VisitorTally
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
        )
    )


def visitor_key(guest: bool, member_key: str | None, name_key: str, institution_key: str | None):
    if guest:
        return "g:" + key_digest(name_key, institution_key)
    return "m:" + key_digest(member_key)


TALLIES = tallies.TallyTable(
    VisitorTally,
    ("total", "last_checkin", "last_visitor_id", "member_id", "member_name", "institution"),
    order=2,  # the latest visit: by checkin_date, then visitor_id
)


def _fold(generation: int, chunk: list[tuple], today: date) -> None:
    days: dict[date, list[int]] = {}
    slots: dict[tuple, list] = {}  # slot -> TALLIES.columns
    # The library's zone. astimezone(None) would take the process's, which Django sets to
    # TIME_ZONE, and TIME_ZONE is LIBRARY_TIME_ZONE: the same zone.
    zone = timezone.get_current_timezone()  # pragma: no mutate
    for vid, checkin, member_id, name, institution, guest, mkey, nkey, ikey in chunk:
        day = checkin.astimezone(zone).date()  # pragma: no mutate
        tallies.count_day(days, day, vid)
        tallies.add_row(
            slots, TALLIES, day=day, today=today, key=visitor_key(guest, mkey, nkey, ikey),
            values=[1, checkin, vid, None if guest else member_id, name, institution],
        )  # fmt: skip
    tallies.add_days(VisitDay, generation, days)
    tallies.upsert_tallies(TALLIES, generation, slots)


SOURCE = engine.Source(SOURCE_NAME, Visit, _rows, _fold, VisitDay, TALLIES)


# --- reading the rollups ----------------------------------------------------------------------
def _generation() -> int:
    state = engine.live_state(SOURCE_NAME)
    if state is None:
        # Never reached: every caller checks the rollups are built (RunContext.from_rollups).
        raise LookupError("the visit rollups are not built")  # pragma: no mutate
    return state.generation


def daily_visit_totals(*, since: date, until: date) -> dict[date, int]:
    """{local date: visits} for since..until inclusive; days without visits are absent."""
    rows = VisitDay.objects.filter(generation=_generation(), day__gte=since, day__lte=until)
    return {day: total for day, total in rows.values_list("day", "total") if total}


def top_visitors(*, since: date, until: date, limit: int = 10) -> list[TopVisitor]:
    """As visitors.selectors.top_visitors, from the rollups."""
    if since > until:
        return []
    rows = VisitorTally.objects.filter(generation=_generation())
    candidates = reads.top_totals(rows, since, until, limit)
    latest = reads.latest_details(TALLIES, rows, candidates, since, until)
    visitors = [
        TopVisitor(member_id, name, institution, candidates[key])
        for key, (_, _, _, member_id, name, institution) in latest.items()
    ]
    visitors.sort(key=rank_visitor)
    return visitors[:limit]


def visits_on(day: date, generation: int | None = None) -> int:
    """Folded visits dated `day`, in the live generation unless `generation` is given."""
    generation = _generation() if generation is None else generation
    row = VisitDay.objects.filter(generation=generation, day=day).first()
    return row.total if row else 0


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
    with transaction.atomic():
        unchanged = RollupState.objects.filter(pk=state.pk, last_id=watermark).update(
            updated_at=timezone.now()
        )
        if not unchanged:
            return None
        before = VisitDay.objects.get(pk=row.pk).total
        VisitDay.objects.filter(pk=row.pk).update(total=exact)
    return before, exact
