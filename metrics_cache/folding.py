"""The rollups' jobs: first build, catching up, drift verification, and their status."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from books import rollups as book_rollups
from books.models import LoanDay, LoanTally
from metrics_cache import rollups
from metrics_cache.models import RollupState, RollupVerification
from metrics_cache.rollups import BUILD_PAUSE_SECONDS, FoldResult, Source
from visitors import rollups as visit_rollups
from visitors.models import VisitDay, VisitorTally

logger = logging.getLogger(__name__)

SOURCES: dict[str, Source] = {
    visit_rollups.SOURCE_NAME: visit_rollups.SOURCE,
    book_rollups.SOURCE_NAME: book_rollups.SOURCE,
}
DAY_MODEL = {visit_rollups.SOURCE_NAME: VisitDay, book_rollups.SOURCE_NAME: LoanDay}
TALLY_MODEL = {visit_rollups.SOURCE_NAME: VisitorTally, book_rollups.SOURCE_NAME: LoanTally}

# One step of a first build folds for at most this long; the task then queues the next step,
# so a worker is never held for the whole build (the fast loop's ticks run in between).
BUILD_STEP_SECONDS = 10
# Catching up before a nightly run: everything new, in short chunks.
CATCH_UP_SECONDS = 600
# Lining up the live and the recomputed generation at one watermark before swapping them.
SWAP_ATTEMPTS = 5
# Differences kept in a verification's record for the admin.
EXAMPLES_KEPT = 20


def build_step(*, budget_seconds: float = BUILD_STEP_SECONDS) -> bool:
    """Folds each source's first build (or new rows) for a bounded time; True when all are
    built."""
    built = True
    for source in SOURCES.values():
        state = rollups.ensure_live(source)
        rollups.fold(
            source, state, budget_seconds=budget_seconds, pause_seconds=BUILD_PAUSE_SECONDS
        )
        built = built and state.built_at is not None
    return built


def catch_up(name: str, *, budget_seconds: float | None = None) -> FoldResult | None:
    """Folds every row above the watermark and compacts ended months, when the first build is
    over; None (nothing read) while it is not."""
    source = SOURCES[name]
    state = rollups.live_state(name)
    if state is None or state.built_at is None:
        return None
    if budget_seconds is None:
        budget_seconds = CATCH_UP_SECONDS
    result = rollups.fold(
        source, state, budget_seconds=budget_seconds, pause_seconds=BUILD_PAUSE_SECONDS
    )
    rollups.compact_live(source, timezone.localdate())
    return result


def status() -> dict:
    """{source: {"state", "progress", "watermark", "rows_folded", "longest_statement_ms"}}."""
    report = {}
    for name in SOURCES:
        state = rollups.live_state(name)
        if state is None:
            report[name] = {"state": "not started", "progress": 0.0}
            continue
        report[name] = {
            "state": "ready" if state.built_at else "building",
            "progress": state.progress,
            "watermark": state.last_id,
            "rows_folded": state.rows_folded,
            "longest_statement_ms": state.longest_statement_ms,
        }
    return report


# --- drift: recompute side by side, compare, swap -----------------------------------------------
def verify(name: str, *, pause_seconds: float = BUILD_PAUSE_SECONDS) -> RollupVerification:
    """Recomputes `name`'s rollups from SLiMS in short chunks beside the live ones, lines both
    up at one watermark, records what differed and swaps the new ones in. Rows deleted or
    edited in SLiMS since they were folded are repaired this way."""
    source = SOURCES[name]
    live = rollups.live_state(name)
    if live is None or live.built_at is None:
        raise RuntimeError(f"the {name} rollups are still being built; nothing to verify yet")
    for abandoned in RollupState.objects.filter(source=name, live=False):
        source.drop(abandoned.generation)  # a verification killed mid-way (a worker restart)
        abandoned.delete()
    record = RollupVerification.objects.create(source=name, started_at=timezone.now())
    shadow = rollups.start_generation(name, highest_id=rollups.highest_id(source), live=False)
    try:
        while not rollups.fold(
            source, shadow, budget_seconds=60, pause_seconds=pause_seconds
        ).caught_up:
            pass
        differences = _swap(source, live, shadow)
    except Exception as exc:
        source.drop(shadow.generation)
        shadow.delete()
        record.status, record.finished_at = "failed", timezone.now()
        record.examples = [{"error": f"{type(exc).__name__}: {exc}"[:300]}]
        record.save()
        raise
    source.drop(live.generation)
    RollupState.objects.filter(pk=live.pk).delete()
    days, tallies, before, after, examples = differences
    record.status, record.finished_at = "swapped", timezone.now()
    record.watermark, record.rows_scanned = shadow.last_id, shadow.rows_folded
    record.days_differing, record.tallies_differing = days, tallies
    record.total_before, record.total_after, record.examples = before, after, examples
    record.save()
    log = logger.warning if days or tallies else logger.info
    log(
        "rollup verification source=%s days_differing=%d tallies_differing=%d before=%d after=%d",
        name, days, tallies, before, after,
        extra={"source": name, "status": "swapped", "rows": shadow.rows_folded},
    )  # fmt: skip
    return record


def _swap(source: Source, live: RollupState, shadow: RollupState) -> tuple:
    today = timezone.localdate()
    for _ in range(SWAP_ATTEMPTS):
        live.refresh_from_db()
        target = max(live.last_id, shadow.last_id)
        for state in (live, shadow):
            rollups.fold(source, state, budget_seconds=60, upto=target)
        with transaction.atomic():
            # Holding both watermark rows: no fold moves either until the swap is done.
            held = sum(
                RollupState.objects.filter(pk=state.pk, last_id=target).update(
                    updated_at=timezone.now()
                )
                for state in (live, shadow)
            )
            if held != 2:
                continue  # the fast loop folded more meanwhile: line up again
            source.compact(live.generation, today)
            source.compact(shadow.generation, today)
            differences = _compare(source.name, live.generation, shadow.generation)
            RollupState.objects.filter(pk=live.pk).update(live=False)
            RollupState.objects.filter(pk=shadow.pk).update(live=True)
            return differences
    raise RuntimeError("could not line the recomputed rollups up with the live ones")


def _compare(name: str, old: int, new: int) -> tuple:
    day_model, tally_model = DAY_MODEL[name], TALLY_MODEL[name]

    def days(generation):
        return dict(day_model.objects.filter(generation=generation).values_list("day", "total"))

    def tallies(generation):
        rows = tally_model.objects.filter(Q(generation=generation))
        return {(g, b, k): t for g, b, k, t in rows.values_list("grain", "bucket", "key", "total")}

    old_days, new_days = days(old), days(new)
    changed_days = sorted(
        day for day in old_days.keys() | new_days.keys() if old_days.get(day) != new_days.get(day)
    )
    old_tallies, new_tallies = tallies(old), tallies(new)
    changed_tallies = sum(
        1
        for slot in old_tallies.keys() | new_tallies.keys()
        if old_tallies.get(slot) != new_tallies.get(slot)
    )
    examples = [
        {"day": day.isoformat(), "before": old_days.get(day, 0), "after": new_days.get(day, 0)}
        for day in changed_days[:EXAMPLES_KEPT]
    ]
    return (
        len(changed_days),
        changed_tallies,
        sum(old_days.values()),
        sum(new_days.values()),
        examples,
    )
