"""A library whose database stopped answering is left alone: its folds, snapshots and copies
are skipped (its figures stay at their last good values) until its fast loop, which keeps
probing with backoff, reaches it again. Other libraries' jobs never wait on it."""

from __future__ import annotations

import functools
import logging

from redis.exceptions import RedisError

from config.library import current
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.network.states import UNREACHABLE, state

logger = logging.getLogger(__name__)
SKIPPED = "unreachable"


def is_open() -> bool:
    """True while the current library's database is unreachable (as its fast loop saw it)."""
    try:
        raw = client().hgetall(keys.today_loop_status())
    except RedisError:
        return False  # nothing known: the job tries, bounded by the connection's timeouts
    loop = {name.decode(): value.decode() for name, value in raw.items()}
    return state(loop) == UNREACHABLE


def unless_unreachable(job):
    """A job of the current library, skipped while its breaker is open."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        if is_open():
            logger.warning("%s skipped for library %s: its database is unreachable",
                           job.__name__, current().slug)  # fmt: skip
            return SKIPPED
        return job(*args, **kwargs)

    return run
