"""The snapshot admin: each snapshot's age, the stale filter and the refresh action."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from metrics_cache.snapshots.models import SnapshotRecord
from tests.support.library import library_test


def result_rows(html: str) -> dict[str, str]:
    """{metric: its row's HTML} from the admin's change list table."""
    table = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return {cells(row)[0]: row for row in rows}


def cells(row: str) -> list[str]:
    """The text of each cell after the checkbox: metric, age, generated at, ..., stale."""
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)[1:]
    return [re.sub(r"<[^>]+>", "", cell).replace("\xa0", " ").strip() for cell in found]


@library_test[0]
@library_test[1]
def test_admin_lists_ages_and_queues_refreshes(library, admin_client, broker):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    SnapshotRecord.objects.create(metric="collection", status="failed", last_error="boom")
    page = admin_client.get("/admin/metrics_cache/snapshotrecord/")
    assert page.status_code == 200
    # "fresh" and "stale" are also the filter's labels: look inside each metric's row.
    rows = result_rows(page.content.decode())
    assert set(rows) == {"weekly", "collection"}
    assert cells(rows["weekly"])[-1] == "fresh" and "ago" in cells(rows["weekly"])[1]
    assert cells(rows["collection"])[-1] == "stale" and cells(rows["collection"])[1] == "never"
    stale_only = admin_client.get("/admin/metrics_cache/snapshotrecord/?stale=yes")
    assert set(result_rows(stale_only.content.decode())) == {"collection"}
    fresh_only = admin_client.get("/admin/metrics_cache/snapshotrecord/?stale=no")
    assert set(result_rows(fresh_only.content.decode())) == {"weekly"}
    ids = list(SnapshotRecord.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/metrics_cache/snapshotrecord/",
        {"action": "refresh_now", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert broker.llen("celery") == 2
