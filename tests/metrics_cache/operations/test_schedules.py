"""Beat schedules in the database (admin-editable)."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from metrics_cache.operations.schedules import sync_schedules


@pytest.mark.django_db
def test_schedules_follow_the_environment_and_keep_admin_edits(settings):
    sync_schedules()
    visitors = PeriodicTask.objects.get(name="snapshots: visitors")
    books = PeriodicTask.objects.get(name="snapshots: books")
    assert (visitors.crontab.minute, visitors.crontab.hour) == ("5", "0")
    assert (books.crontab.minute, books.crontab.hour) == ("10", "0")
    assert str(visitors.crontab.timezone) == "Asia/Jakarta"
    assert visitors.args == '["visitors"]'

    # An admin moves the visitors job; a restart with the same environment keeps the edit.
    visitors.crontab = type(visitors.crontab).objects.create(minute="30", hour="2")
    visitors.save()
    sync_schedules()
    assert PeriodicTask.objects.get(name="snapshots: visitors").crontab.minute == "30"

    # A changed variable wins again.
    settings.VISITOR_SLOW_CRON = "15 1 * * *"
    sync_schedules()
    moved = PeriodicTask.objects.get(name="snapshots: visitors")
    assert (moved.crontab.minute, moved.crontab.hour) == ("15", "1")


@pytest.mark.django_db
def test_a_schedule_naming_another_task_is_pointed_back_at_its_job():
    """Beat stores schedules by task name: a row left naming a task that no longer runs its job
    (an old name, an edit by hand) is rewritten from its setting at the next start."""
    sync_schedules()
    stale = PeriodicTask.objects.get(name="snapshots: books")
    stale.task = "metrics_cache.tasks.refresh_group"  # a module path, not the registered name
    stale.crontab = type(stale.crontab).objects.create(minute="40", hour="3")
    stale.save()
    sync_schedules()
    healed = PeriodicTask.objects.get(name="snapshots: books")
    assert healed.task == "metrics_cache.refresh_group"
    assert (healed.crontab.minute, healed.crontab.hour) == ("10", "0")
