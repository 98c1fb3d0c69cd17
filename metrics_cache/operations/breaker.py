"""A library whose database stopped answering is left alone: its folds, snapshots and copies
are skipped (its figures stay at their last good values) until its fast loop, which keeps
probing with backoff, reaches it again. And one library's jobs run one at a time, wherever
the workers are (its fast loop's ticks apart): a library whose database hangs holds at most
one worker process with them, so the other libraries' jobs and ticks keep going."""

from __future__ import annotations

import functools
import logging
from contextvars import ContextVar

from celery import current_task
from redis.exceptions import RedisError

from config.library import current
from config.library_tasks import LIBRARY_KWARG
from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once
from metrics_cache.network.states import OK, UNREACHABLE, state

logger = logging.getLogger(__name__)
SKIPPED = "unreachable"
REQUEUED = "requeued"
# A job that finds another of its library's running is queued again this much later.
REQUEUE_SECONDS = 5
# ... after waiting this long for it, if the library's database answers (its jobs then take
# tens of milliseconds to a second; its fold and circulation are sent at the same instant,
# and a night's or a start's jobs of one library side by side): a wait costs less than a
# message and a worker's turn. One whose database fails does not wait: its job may hang.
WAIT_FOR_RUNNING_SECONDS = 2

_running_one = ContextVar("running_one_of_its_library_s_jobs", default=False)


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
    other job of the library runs (else, after waiting a little for it while the library's
    database answers, queued again a few seconds later; called outside a worker, or from
    inside another of its jobs, it runs at once)."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        seen = _state()
        if seen == UNREACHABLE:
            logger.warning("%s skipped for library %s: its database is unreachable",
                           job.__name__, current().slug)  # fmt: skip
            return SKIPPED
        task = current_task._get_current_object()  # None outside a worker's task
        if not one_at_a_time or _running_one.get() or task is None:
            return job(*args, **kwargs)
        request = task.request
        wait = WAIT_FOR_RUNNING_SECONDS if seen == OK else 0
        with run_once(keys.library_jobs(), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS,
                      wait_seconds=wait) as mine:  # fmt: skip
            if not mine:
                again = {**(request.kwargs or {}), LIBRARY_KWARG: current().slug}
                # On the queue it came from (a first build's step stays on the build queue).
                came_from = (request.delivery_info or {}).get("routing_key")
                task.apply_async(args=list(request.args or ()), kwargs=again,
                                 countdown=REQUEUE_SECONDS,
                                 **({"queue": came_from} if came_from else {}))  # fmt: skip
                return REQUEUED
            token = _running_one.set(True)
            try:
                return job(*args, **kwargs)
            finally:
                _running_one.reset(token)

    return run


def unless_unreachable_any_time(job):
    """As unless_unreachable, beside the library's other jobs (the weekly verification, hours
    long, must not hold up its folds and snapshots)."""
    return unless_unreachable(job, one_at_a_time=False)
