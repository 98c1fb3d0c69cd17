"""Every library's fast loop from a few schedules. With several libraries, they are dealt into
groups of at most GROUP_SIZE; each group is one beat entry (the groups spread over the
interval), and a group's task runs its libraries' ticks one after another: a few messages an
interval instead of one per library. A library whose last tick failed (its database refusing,
hanging or gone) is ticked by a task of its own instead, so after its first failure it holds up
no other library. One library alone keeps its own schedule (operations.schedules)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from celery import Task
from redis.exceptions import RedisError

from config.connections import close_opened
from config.libraries import Library
from config.library import all_libraries, count_mode, serving
from config.library_tasks import LIBRARY_KWARG
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today import modes, probe

# Libraries ticked in sequence by one task: a tick is a few milliseconds.
GROUP_SIZE = 25
ALONE = "alone"


def group_count(libraries: int) -> int:
    return -(-libraries // GROUP_SIZE)


def members(group: int, groups: int) -> list[Library]:
    """The libraries of group `group` (0-based) of `groups`: every groups-th library."""
    return all_libraries()[group::groups]


def failing(libraries: list[Library]) -> set[str]:
    """The slugs of the libraries whose fast loop failed last (one round trip)."""
    pipe = client().pipeline(transaction=False)  # pragma: no mutate (MULTI or not: same replies)
    for library in libraries:
        pipe.hget(keys.today_loop_status(library), "failures")
    found = pipe.execute()
    # One reply per library: zip's strictness never matters.
    return {lib.slug for lib, failures in zip(libraries, found, strict=True)  # pragma: no mutate
            if int(failures or 0)}  # fmt: skip


def run(
    task: Task,
    step: Callable[[], str],
    group: int,
    groups: int,
    expires: float,
    *,
    probing: bool = False,
) -> dict:
    """Runs `step` (a tick, a recount) for each library of the group, in its library; a
    failing one is sent `task` of its own (expiring after `expires` seconds) instead.
    `probing`: the highest visitor ids of the libraries sharing a server asked first, together,
    for those whose mode takes them (today.probe). Returns how many of each outcome."""
    libraries = members(group, groups)
    try:
        alone = failing(libraries)
    except RedisError:
        alone = set()  # each step finds Redis down itself
    asked = [lib for lib in libraries
             if lib.slug not in alone and modes.MODES[count_mode(lib)].probed]  # fmt: skip
    highest = probe.highest_ids(asked) if probing else {}
    outcomes: Counter[str] = Counter()
    for library in libraries:
        if library.slug in alone:
            task.apply_async(kwargs={LIBRARY_KWARG: library.slug}, expires=expires)
            outcomes[ALONE] += 1
            continue
        with serving(library), probe.probed(highest.get(library.slug)):
            try:
                outcomes[step()] += 1
            finally:
                # Libraries often share a database server: a group holds one connection at a
                # time to it, not one per library until the task ends.
                close_opened(force=True)
    return dict(outcomes)
