"""The operations' Celery tasks: the sweep for messages lost on their way to a worker and for
jobs a lost worker left on its library's list, and the job that runs those."""

from __future__ import annotations

from celery import shared_task

from metrics_cache.base import keys
from metrics_cache.operations import handover, transit


@shared_task(
    name="metrics_cache.resend_lost_messages",
    ignore_result=True,
    soft_time_limit=transit.SWEEP_SECONDS * 2,
    time_limit=transit.SWEEP_SECONDS * 3,
)
def resend_lost_messages() -> int:
    """Sends again the jobs whose message a lost worker popped off the broker, and a job to
    run those a lost worker left on its library's list; how many messages it sent."""
    return len(transit.sweep()) + len(handover.run_left_behind())


@shared_task(
    name=handover.RUN_HANDED,
    bind=True,
    ignore_result=True,
    soft_time_limit=keys.GROUP_RUN_TIME_LIMIT_SECONDS - 60,
    time_limit=keys.GROUP_RUN_TIME_LIMIT_SECONDS,
)
def run_handed_jobs(self) -> str:
    """Takes its library's slot and runs the jobs on its list (each skipped, and struck off,
    while the library's database is unreachable)."""
    return handover.run_one_at_a_time(self, lambda: "ran")
