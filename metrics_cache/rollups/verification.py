"""The weekly drift check: each source recomputed from SLiMS beside the live rollups, compared
and swapped in, so rows deleted or edited in SLiMS since they were folded are repaired."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from config.library import own_tables
from metrics_cache.rollups import engine
from metrics_cache.rollups.engine import BUILD_PAUSE_SECONDS, Source
from metrics_cache.rollups.models import RollupState, RollupVerification
from metrics_cache.rollups.sources import source as source_named

logger = logging.getLogger(__name__)

# Lining up the live and the recomputed generation at one watermark before swapping them.
SWAP_ATTEMPTS = 5
# Differences kept in a verification's record for the admin.
EXAMPLES_KEPT = 20


def verify(name: str, *, pause_seconds: float = BUILD_PAUSE_SECONDS) -> RollupVerification:
    """Recomputes `name`'s rollups from SLiMS in short chunks beside the live ones, lines both
    up at one watermark, records what differed and swaps the new ones in. Rows deleted or
    edited in SLiMS since they were folded are repaired this way."""
    source = source_named(name)
    live = engine.live_state(name)
    if live is None or live.built_at is None:
        raise RuntimeError(f"the {name} rollups are still being built; nothing to verify yet")
    for abandoned in RollupState.objects.filter(source=name, live=False):
        source.drop(abandoned.generation)  # a verification killed mid-way (a worker restart)
        abandoned.delete()
    record = RollupVerification.objects.create(source=name, started_at=timezone.now())
    shadow = engine.start_generation(name, highest_id=engine.highest_id(source), live=False)
    try:
        # The budget and pauses pace the recomputation, never what it counts.
        while not engine.fold(
            source,
            shadow,
            budget_seconds=60,  # pragma: no mutate
            pause_seconds=pause_seconds,  # pragma: no mutate
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
            # Folded to the end instead, both still stop at one id: the same comparison.
            engine.fold(source, state, budget_seconds=60, upto=target)  # pragma: no mutate
        with transaction.atomic(using=own_tables()):
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
            differences = _compare(source, live.generation, shadow.generation)
            RollupState.objects.filter(pk=live.pk).update(live=False)
            RollupState.objects.filter(pk=shadow.pk).update(live=True)
            return differences
    raise RuntimeError("could not line the recomputed rollups up with the live ones")


def _compare(source: Source, old: int, new: int) -> tuple:
    day_model, tally_model = source.days, source.tallies.model

    def days(generation):
        return dict(day_model.objects.filter(generation=generation).values_list("day", "total"))

    def tallies(generation):
        rows = tally_model.objects.filter(generation=generation)
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
