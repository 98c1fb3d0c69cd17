"""The rollups' Celery tasks (names kept: beat stores its schedules by name)."""

from __future__ import annotations

import logging

from celery import shared_task

from config.services import BUILD_QUEUE
from metrics_cache.base import keys
from metrics_cache.base.redis import run_once
from metrics_cache.operations.breaker import unless_unreachable, unless_unreachable_any_time
from metrics_cache.rollups import jobs, verification
from metrics_cache.rollups.sources import sources

logger = logging.getLogger(__name__)

# A drift verification is stopped after this long.
VERIFY_TIME_LIMIT_SECONDS = 3 * 3600
# Between two steps of a rollups' first build.
BUILD_STEP_PAUSE_SECONDS = 1


@shared_task(
    name="metrics_cache.fold_rollups",
    ignore_result=True,
    soft_time_limit=keys.GROUP_RUN_TIME_LIMIT_SECONDS - 60,
    time_limit=keys.GROUP_RUN_TIME_LIMIT_SECONDS,
)
@unless_unreachable
def fold_rollups() -> str:
    """One step of the rollups' first build (or of folding new rows); queues the next step
    on the build queue while the build is not over. Beat also runs it every few minutes, so a
    lost message or a restart mid-build only delays it."""
    with run_once(keys.rollup_lock(), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS) as running:
        if not running:
            return "busy"
        built = jobs.build_step()
    if not built:
        fold_rollups.apply_async(countdown=BUILD_STEP_PAUSE_SECONDS, queue=BUILD_QUEUE)
        return "building"
    return "built"


@shared_task(
    name="metrics_cache.verify_rollups",
    ignore_result=True,
    # A whole-table recomputation in gentle chunks: hours on the largest libraries, off-hours.
    soft_time_limit=VERIFY_TIME_LIMIT_SECONDS - 60,
    time_limit=VERIFY_TIME_LIMIT_SECONDS,
)
@unless_unreachable_any_time
def verify_rollups() -> None:
    """The weekly drift check: each source recomputed side by side and swapped in."""
    for name in sources():
        try:
            verification.verify(name)
        except RuntimeError as exc:
            logger.warning("rollup verification source=%s skipped: %s", name, exc)
