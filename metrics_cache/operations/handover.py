"""One library's jobs run one at a time, wherever the workers are, and none waits for another.

A job writes itself down on its library's list of jobs to run, then takes the library's slot
if it is free. The job that holds the slot runs the list in the order written, its own job
among them, and lets go once the list is empty; a job that finds the slot taken leaves itself
on the list and ends at once, its worker free for the next message. So a library's jobs queued
side by side (a night's, a start's, the fold and circulation beat sends at one instant) run one
after the other in one worker's turn, instead of holding a worker each while they wait.

A job is struck off the list once it ran. A worker lost while holding the slot (killed, its
host gone) leaves the jobs it had not finished on the list and its slot's lease running out:
the sweep (beat, every few seconds) finds such a list with nobody holding its slot and sends a
job that takes the slot and runs them. The broker later gives the lost worker's own message
back: a job that ran already (its task id noted for a while) is not run again. A holder past
its share of time sends the jobs still on the list as messages of their own, so one library
never keeps a worker for long.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from time import monotonic
from typing import Any

from celery import current_app

from config.library import all_libraries, current
from config.library_tasks import LIBRARY_KWARG
from config.services import BUILD_QUEUE
from metrics_cache.base import keys
from metrics_cache.base.redis import client, run_once

logger = logging.getLogger(__name__)

HANDED = "handed"
RAN_ALREADY = "ran already"
# A holder starts the jobs on its library's list for this long after taking the slot; those
# left then are sent as messages of their own.
HOLD_SECONDS = 20
# The job the sweep sends to run a list whose holder is gone.
RUN_HANDED = "metrics_cache.run_handed_jobs"
# A job's task id is noted this long once it ran: past the broker's visibility timeout, after
# which it gives a lost worker's messages back.
RAN_SECONDS = 3600

_holding = ContextVar("holding_its_library_s_slot", default=False)


def holding() -> bool:
    """True inside a job run by the holder of its library's slot."""
    return _holding.get()


def _entry(task, request) -> bytes:
    kwargs = {**(request.kwargs or {}), LIBRARY_KWARG: current().slug}
    # On the queue it came from (a first build's step stays on the build queue).
    queue = (request.delivery_info or {}).get("routing_key")
    entry = {"id": request.id, "task": task.name, "args": list(request.args or ()),
             "kwargs": kwargs, "queue": queue}  # fmt: skip
    # Any separators: an entry is only ever compared with itself, as written here.
    return json.dumps(entry, separators=(",", ":")).encode()  # pragma: no mutate


def run_one_at_a_time(task, job: Callable[[], Any]) -> Any:
    """Runs `job` (the running task's own) as described above: its result, HANDED if it was
    left for the slot's holder to run, or RAN_ALREADY (its message given back after it ran)."""
    redis = client()
    handed = keys.handed_jobs()
    if task.request.id and redis.exists(keys.job_ran(task.request.id)):
        logger.info("job %s of %s ran already: not run again", task.request.id, task.name)
        return RAN_ALREADY
    own = _entry(task, task.request)
    redis.rpush(handed, own)
    outcome: list = [HANDED]
    while True:
        with run_once(keys.library_jobs(), timeout=keys.GROUP_RUN_TIME_LIMIT_SECONDS) as mine:
            if not mine:
                break
            _run_list(redis, handed, own, job, outcome)
        # A job written down after the list was found empty and before the slot was let go
        # found the slot taken: run it, unless another job took the slot meanwhile.
        if not redis.llen(handed):
            break
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _run_list(redis, handed: str, own: bytes, job, outcome: list) -> None:
    """Runs the list's jobs in order until it is empty (or the holder's time is up); the
    holder's own job's result (or exception) goes in `outcome`."""
    started = monotonic()
    token = _holding.set(True)
    try:
        while (entry := redis.lindex(handed, 0)) is not None:
            if monotonic() - started > HOLD_SECONDS:
                _send_the_rest(redis, handed)
                return
            if entry == own:
                try:
                    outcome[0] = job()
                except Exception as exc:  # the others still run; it is raised after
                    outcome[0] = exc
            else:
                _run_handed(entry)
            _struck_off(redis, handed, entry)
    finally:
        _holding.reset(token)


def _struck_off(redis, handed: str, entry: bytes) -> None:
    """With any copy of it written down since (its message given to a worker again while it
    waited here): it ran once; its task id noted as having run."""
    pipe = redis.pipeline(transaction=False)  # pragma: no mutate (MULTI or not: the same)
    pipe.lrem(handed, 0, entry)
    task_id = json.loads(entry)["id"]
    if task_id:
        pipe.set(keys.job_ran(task_id), 1, ex=RAN_SECONDS)  # pragma: no mutate (existence read)
    pipe.execute()


def _run_handed(entry: bytes) -> None:
    """Another worker's job, run here under its own task id (Celery's signals see it run; its
    failure is logged as its own)."""
    described = json.loads(entry)
    task = current_app.tasks.get(described["task"])
    if task is None:
        logger.warning("handed job %s of unknown task %s dropped", described["id"],
                       described["task"])  # fmt: skip
        return
    task.apply(args=described["args"], kwargs=described["kwargs"], task_id=described["id"])


def _send_the_rest(redis, handed: str) -> None:
    # Each once (dict keeps the order). A list read short would be sent in several turns of
    # run_one_at_a_time's loop: the same messages.
    for entry in dict.fromkeys(redis.lrange(handed, 0, -1)):  # pragma: no mutate
        described = json.loads(entry)
        current_app.send_task(
            described["task"], args=described["args"], kwargs=described["kwargs"],
            queue=described["queue"], parent_id=described["id"],
        )  # fmt: skip
        redis.lrem(handed, 0, entry)
    logger.info("library %s: its other jobs sent as messages of their own", current().slug)


def left_behind() -> list[str]:
    """The slugs of the libraries whose list holds jobs while nobody holds their slot (its
    holder lost): the sweep sends each a job that runs them."""
    libraries = all_libraries()
    pipe = client().pipeline(transaction=False)  # pragma: no mutate (MULTI or not: same replies)
    for library in libraries:
        pipe.llen(keys.handed_jobs(library))
        pipe.exists(keys.library_jobs(library))
    replies = pipe.execute()
    # Two replies per library: zip's strictness never matters.
    pairs = zip(libraries, replies[::2], replies[1::2], strict=True)  # pragma: no mutate
    return [library.slug for library, waiting, held in pairs if waiting and not held]


def run_left_behind() -> list[str]:
    """Sends RUN_HANDED for each library left_behind(); their slugs."""
    slugs = left_behind()
    for slug in slugs:
        # On the build queue: a night's or a start's backlog on `celery` would hold it up.
        current_app.send_task(RUN_HANDED, kwargs={LIBRARY_KWARG: slug}, queue=BUILD_QUEUE)
        logger.warning("library %s: jobs left by a lost worker, sent to be run", slug)
    return slugs
