"""A library whose database stopped answering is left alone: its folds, snapshots and copies
are skipped (its figures stay at their last good values) until its fast loop, which keeps
probing with backoff, reaches it again. And one library's jobs run one at a time, wherever
the workers are (its fast loop's ticks apart; operations.handover): a library whose database
hangs holds at most one worker process with them, so the other libraries' jobs and ticks keep
going."""

from __future__ import annotations

import functools
import logging

from celery import current_task
from redis.exceptions import RedisError

from config.library import current
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.network.states import UNREACHABLE, state
from metrics_cache.operations import handover

logger = logging.getLogger(__name__)
SKIPPED = "unreachable"


def _state() -> str | None:
    """The current library's state as its fast loop saw it; None without Redis."""
    try:
        raw = client().hgetall(keys.today_loop_status())
    except RedisError:
        return None
    return state({name.decode(): value.decode() for name, value in raw.items()})


def is_open() -> bool:
    """True while the current library's database is unreachable (as its fast loop saw it);
    without Redis, nothing is known: the job tries, bounded by the connection's timeouts."""
    return _state() == UNREACHABLE


def unless_unreachable(job, *, one_at_a_time: bool = True):
    """A job of the current library, skipped while its breaker is open, and run while no
    other job of the library runs (else handed to the one running: operations.handover;
    called outside a worker, or from inside another of its jobs, it runs at once)."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        if _state() == UNREACHABLE:
            logger.warning("%s skipped for library %s: its database is unreachable",
                           job.__name__, current().slug)  # fmt: skip
            return SKIPPED
        task = current_task._get_current_object()  # None outside a worker's task
        if not one_at_a_time or handover.holding() or task is None:
            return job(*args, **kwargs)
        return handover.run_one_at_a_time(task, lambda: job(*args, **kwargs))

    return run


def unless_unreachable_any_time(job):
    """As unless_unreachable, beside the library's other jobs (the weekly verification, hours
    long, must not hold up its folds and snapshots)."""
    return unless_unreachable(job, one_at_a_time=False)
