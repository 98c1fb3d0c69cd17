"""The operations' Celery task: the sweep for messages lost on their way to a worker."""

from __future__ import annotations

from celery import shared_task

from metrics_cache.operations import transit


@shared_task(
    name="metrics_cache.resend_lost_messages",
    ignore_result=True,
    soft_time_limit=transit.SWEEP_SECONDS * 2,
    time_limit=transit.SWEEP_SECONDS * 3,
)
def resend_lost_messages() -> int:
    """Sends again the jobs whose message a lost worker popped off the broker; how many."""
    return len(transit.sweep())
