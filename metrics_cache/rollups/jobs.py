"""The rollups' jobs: the first build, catching up before a nightly run, and their status."""

from __future__ import annotations

from django.utils import timezone

from metrics_cache.rollups import engine
from metrics_cache.rollups.engine import BUILD_PAUSE_SECONDS, FoldResult
from metrics_cache.rollups.sources import source, sources

# One step of a first build folds for at most this long; the task then queues the next step,
# so a worker is never held for the whole build (the fast loop's ticks run in between).
BUILD_STEP_SECONDS = 10
# Catching up before a nightly run: everything new, in short chunks.
CATCH_UP_SECONDS = 600


def build_step(*, budget_seconds: float = BUILD_STEP_SECONDS) -> bool:
    """Folds each source's first build (or new rows) for a bounded time; True when all are
    built."""
    built = True
    for rolled in sources().values():
        state = engine.ensure_live(rolled)
        engine.fold(
            rolled,
            state,
            budget_seconds=budget_seconds,
            # Pauses pace the build, never what it counts (bench/rollups.py measures them).
            pause_seconds=BUILD_PAUSE_SECONDS,  # pragma: no mutate
        )
        built = built and state.built_at is not None
    return built


def catch_up(name: str, *, budget_seconds: float | None = None) -> FoldResult | None:
    """Folds every row above the watermark and compacts ended months, when the first build is
    over; None (nothing read) while it is not."""
    rolled = source(name)
    state = engine.live_state(name)
    if state is None or state.built_at is None:
        return None
    if budget_seconds is None:
        budget_seconds = CATCH_UP_SECONDS
    result = engine.fold(
        rolled,
        state,
        budget_seconds=budget_seconds,
        # Pauses pace the catch-up, never what it counts.
        pause_seconds=BUILD_PAUSE_SECONDS,  # pragma: no mutate
    )
    engine.compact_live(rolled, timezone.localdate())
    return result


def status() -> dict:
    """{source: {"state", "progress", "watermark", "rows_folded", "longest_statement_ms"}}."""
    report = {}
    for name in sources():
        state = engine.live_state(name)
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
