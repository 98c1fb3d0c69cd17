"""The service's Celery app (config.celery) with the copy of the lookup tables taking
SLOW_COPY_SECONDS first: a job that holds its library's slot long enough for a test to lose
its worker mid-job. Everything else is the service's own."""

from __future__ import annotations

import os
import time

from celery.signals import worker_process_init

from config.celery import app

__all__ = ["app"]


@worker_process_init.connect
def _slow_copy(**_):
    """In each pool process, once Django is set up."""
    from metrics_cache.reports import tasks

    copy = tasks.copy_lookups

    def slow():
        time.sleep(float(os.environ["SLOW_COPY_SECONDS"]))
        return copy()

    tasks.copy_lookups = slow
