"""The service's Celery app (config.celery), with one line per task start and end appended to
BENCH_TASK_LOG: what bench.network reads to time the nightly run and to check that no
library's job ran on two workers at once. Nothing else changes: the worker is the Procfile's
(`celery --app bench.network_app worker ...` in place of `--app config`).

A line: `<event> <unix time> <hostname> <pid> <task id> <task name> <library> <args>` (event
`start`, `end:<state>`, or `end:HANDED` for a job that found another of its library's running
and left itself to that one, which then runs it under the same task id: its own `start` and
`end:<state>` lines, from the worker that ran it; `end:RAN` for a message given back after its
job ran, on a worker since lost before its task could end), and
for a task sent from inside another (a job queued again, a build's next step)
`sent <unix time> - <pid> <task id> <task name> <library> <id of the task that sent it>`.
"""

from __future__ import annotations

import json
import os
import time

from celery.signals import after_task_publish, celeryd_init, task_postrun, task_prerun

from config.celery import app

__all__ = ["app"]

_LOG = os.environ.get("BENCH_TASK_LOG")
# The worker's name (`a@host`): a job handed to another runs inside that one's task, where its
# request names the machine only.
_node: list[str] = []


@celeryd_init.connect
def _named(sender=None, **_):
    _node.append(sender)


def _write(event: str, task_id, task, args, kwargs) -> None:
    kwargs = kwargs or {}
    hostname = (_node or [None])[0] or getattr(task.request, "hostname", None) or "-"
    args = json.dumps(list(args or []), separators=(",", ":"))
    _append(f"{event} {time.time():.3f} {hostname} {os.getpid()} {task_id} {task.name} "
            f"{kwargs.get('library', '-')} {args}\n")  # fmt: skip


def _append(line: str) -> None:
    if not _LOG:
        return
    # O_APPEND: each line lands whole even with several processes writing.
    descriptor = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


@after_task_publish.connect
def _sent(sender=None, headers=None, body=None, **_):
    parent = (headers or {}).get("parent_id")
    if parent:  # sent by a task: the bench follows a job through its copies
        kwargs = body[1] if isinstance(body, list | tuple) and len(body) > 1 else {}
        _append(f"sent {time.time():.3f} - {os.getpid()} {headers['id']} {sender} "
                f"{(kwargs or {}).get('library', '-')} {parent}\n")  # fmt: skip


@task_prerun.connect
def _started(task_id=None, task=None, args=None, kwargs=None, **_):
    _write("start", task_id, task, args, kwargs)


@task_postrun.connect
def _ended(task_id=None, task=None, args=None, kwargs=None, state=None, retval=None, **_):
    # A job that found another of its library's running left itself to that one, or a message
    # given back after its job ran (metrics_cache.operations.handover.HANDED, RAN_ALREADY).
    marks = {"handed": "end:HANDED", "ran already": "end:RAN"}
    event = marks.get(retval, f"end:{state}") if isinstance(retval, str) else f"end:{state}"
    _write(event, task_id, task, args, kwargs)
