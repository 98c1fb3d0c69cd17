"""Beat schedules in the database (admin-editable) and the snapshot admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from metrics_cache.models import SnapshotRecord
from metrics_cache.schedules import sync_schedules
from tests.library import library_test


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


@library_test[0]
@library_test[1]
def test_admin_lists_ages_and_queues_refreshes(library, admin_client, broker):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    SnapshotRecord.objects.create(metric="collection", status="failed", last_error="boom")
    page = admin_client.get("/admin/metrics_cache/snapshotrecord/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "weekly" in html and "fresh" in html and "stale" in html and "never" in html
    stale_only = admin_client.get("/admin/metrics_cache/snapshotrecord/?stale=yes")
    assert "collection" in stale_only.content.decode()
    assert "weekly" not in stale_only.content.decode().split("result_list")[1]
    ids = list(SnapshotRecord.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/metrics_cache/snapshotrecord/",
        {"action": "refresh_now", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert broker.llen("celery") == 2
