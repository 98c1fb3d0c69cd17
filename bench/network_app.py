"""The service's Celery app (config.celery), with one line per task start and end appended to
BENCH_TASK_LOG: what bench.network reads to time the nightly run and to check that no
library's job ran on two workers at once. Nothing else changes: the worker is the Procfile's
(`celery --app bench.network_app worker ...` in place of `--app config`).

A line: `<event> <unix time> <hostname> <pid> <task id> <task name> <library> <args>`.
"""

from __future__ import annotations

import json
import os
import time

from celery.signals import task_postrun, task_prerun

from config.celery import app

__all__ = ["app"]

_LOG = os.environ.get("BENCH_TASK_LOG")


def _write(event: str, task_id, task, args, kwargs) -> None:
    if not _LOG:
        return
    kwargs = kwargs or {}
    library = kwargs.get("library", "-")
    hostname = getattr(task.request, "hostname", None) or "-"
    line = (
        f"{event} {time.time():.3f} {hostname} {os.getpid()} {task_id} {task.name} "
        f"{library} {json.dumps(list(args or []), separators=(',', ':'))}\n"
    )
    # O_APPEND: each line lands whole even with several processes writing.
    descriptor = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


@task_prerun.connect
def _started(task_id=None, task=None, args=None, kwargs=None, **_):
    _write("start", task_id, task, args, kwargs)


@task_postrun.connect
def _ended(task_id=None, task=None, args=None, kwargs=None, state=None, **_):
    _write(f"end:{state}", task_id, task, args, kwargs)
