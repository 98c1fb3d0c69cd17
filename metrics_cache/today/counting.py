"""Today's exact count from the visit rollups (folding the new rows first, or only reading), and
from a scan of SLiMS before the rollups' first build is over."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.rollups import engine
from metrics_cache.rollups.models import RollupState
from metrics_cache.today import probe
from metrics_cache.today.publishing import todays_value
from visitors import rollups as visit_rollups
from visitors.selectors import visits_today_exact

logger = logging.getLogger(__name__)

# A tick folds new rows for at most this long; rows left over (a large import just landed) are
# counted for today by primary-key windows and folded by the next ticks.
TICK_FOLD_SECONDS = 2.0
# Ids per statement when counting rows that are not folded yet.
UNFOLDED_WINDOW_IDS = 100_000
# How often a read of today's rollup is tried again when a fold commits in the middle of it.
MISS_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Count:
    total: int
    baseline_id: int | None = None
    baseline_count: int | None = None
    # Counted from the rollups folded up to this visitor_id (the watermark), and the rows
    # above it: every row there was.
    folded_to: int | None = None


def visit_rollups_state() -> RollupState | None:
    """The visit rollups' live generation once its first build is over, else None."""
    state = engine.live_state(visit_rollups.SOURCE_NAME)
    return state if state is not None and state.built_at is not None else None


def _unfolded(today: date, after_id: int) -> int:
    """Rows dated `today` above the watermark `after_id`, by primary-key windows."""
    top = engine.highest_id(visit_rollups.SOURCE)
    return sum(
        visit_rollups.visits_dated_between_ids(
            after_id=start, upto_id=min(start + UNFOLDED_WINDOW_IDS, top), day=today
        )
        for start in range(after_id, top, UNFOLDED_WINDOW_IDS)
    )


def count_from_rollups(today: date, state: RollupState) -> Count:
    """Today's rollup after folding the new rows, plus any rows dated today still above the
    watermark: exact whatever the rows' id order."""
    result = engine.fold(visit_rollups.SOURCE, state, budget_seconds=TICK_FOLD_SECONDS,
                         highest=probe.known_highest())  # fmt: skip
    # The generation the fold wrote to: its rows and the watermark below go together.
    total = visit_rollups.visits_on(today, state.generation)
    if not result.caught_up:
        total += _unfolded(today, state.last_id)
    return Count(total, state.last_id, folded_to=state.last_id)


def unchanged(highest: int | None) -> Count | None:
    """The count published today, when the last tick or recount counted from the
    rollups folded up to `highest` or above (the library's highest visitor_id, probed by its
    group: today.probe): no row came since, so today's rollup and the rows above its
    watermark are what they were. None: count it."""
    if highest is None:
        return None
    pipe = client().pipeline(transaction=False)  # pragma: no mutate (MULTI or not: the same)
    pipe.hget(keys.today_loop_status(), "folded_to")
    pipe.get(keys.today_count())
    folded_to, raw = pipe.execute()
    # Today's published figure counted every row up to the highest id there was: whoever
    # published it (a tick, a recount, a request that found no count) counted today.
    count = todays_value(raw)
    if count is None or not folded_to or int(folded_to) < highest:
        return None
    return Count(count["total"], int(folded_to), folded_to=int(folded_to))


def recount_rollup(today: date, state: RollupState) -> Count:
    """Today's rollup checked against SLiMS over its rows' id range (rows deleted or re-dated
    since they were folded), then the count as a tick makes it."""
    corrected = visit_rollups.recount_day(state, today)
    if corrected is not None and corrected[0] != corrected[1]:
        logger.warning(
            "today's count corrected by the exact recount: %d -> %d (rows deleted or re-dated)",
            *corrected,
        )
    state.refresh_from_db()
    return count_from_rollups(today, state)


def exact_today(today: date) -> int:
    """Today's exact count: from the rollups once built, else a scan."""
    state = visit_rollups_state()
    if state is not None:
        return count_from_rollups(today, state).total
    return visits_today_exact(today=today)[0]


def count_without_folding(today: date) -> int:
    """Today's exact count for an API request that found no cached figure. The request only
    reads: today's rollup and its watermark (the worker folds), then the rows dated today
    above that watermark by primary-key windows, so the library database sees a few short
    range reads instead of a scan of the table. A scan before the rollups are first built."""
    state = visit_rollups_state()
    for _ in range(MISS_READ_ATTEMPTS):
        if state is None:
            break
        seen = (state.generation, state.last_id)
        folded = visit_rollups.visits_on(today, state.generation)
        state = visit_rollups_state()
        # The watermark moves with the rollup rows in one transaction: unchanged around the
        # read, the rollup read is exactly the rows up to it.
        if state is not None and (state.generation, state.last_id) == seen:
            return folded + _unfolded(today, state.last_id)
    return visits_today_exact(today=today)[0]
