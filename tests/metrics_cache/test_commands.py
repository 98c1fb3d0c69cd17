"""Operators' commands on a warm cache: prewarm recomputes, recount_today holds through the
next ticks, doctor reports each thing it checks."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django_redis import get_redis_connection

from demo.schema import create_statements
from demo.writer import library_writer
from metrics_cache.base import keys
from metrics_cache.today import loop, publishing
from tests.support.library import library_test

pytestmark = library_test

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=JAKARTA), tick=False)


def total() -> int:
    return publishing.published()["total"]


def kiosk_checkin(client) -> None:
    response = client.post(
        "/api/visitors/today/increment",
        {"by": 1},
        content_type="application/json",
        headers={"Authorization": "Token kiosk-secret"},
    )
    assert response.status_code == 200, response.content


def test_prewarm_recomputes_snapshots_already_generated_today(library, client):
    with at(2026, 11, 25, 9, 0):
        call_command("prewarm", stdout=StringIO())
        assert client.get("/api/visitors/weekly").json()["data"][-1]["total"] == 0
    library.visit("2026-11-24 17:00:00")  # yesterday's paper sheet, typed in this morning
    out = StringIO()
    with at(2026, 11, 25, 10, 0):
        call_command("prewarm", stdout=out)
        weekly = client.get("/api/visitors/weekly").json()
    assert weekly["data"][-1] == {"date": "2026-11-24", "total": 1}
    assert weekly["generated_at"].startswith("2026-11-25T10:00:00")
    statuses = {line.split()[0]: line.split()[-1] for line in out.getvalue().splitlines()[1:]}
    assert set(statuses.values()) == {"ok"}
    assert len(statuses) == 11


def test_recount_today_in_delta_mode_holds_through_the_next_ticks(library, settings):
    settings.TODAY_COUNT_MODE = "delta"
    settings.VISITOR_SYNC_BUFFER_MS = 0
    library.visit("2026-11-25 08:00:00", visitor_id=100)
    with at(2026, 11, 25, 10, 0):
        loop.tick()
        library.visit("2026-11-25 09:00:00", visitor_id=50)  # below the delta's last id
        call_command("recount_today", stdout=StringIO())
        assert total() == 2
        assert loop.tick() == "ok"
        assert total() == 2  # the recount's state, not the old one
        library.visit("2026-11-25 10:00:00", visitor_id=101)
        assert loop.tick() == "ok"
        assert total() == 3
        library.visit("2026-11-25 10:01:00", visitor_id=102)
        library.visit("2026-11-24 10:01:00", visitor_id=103)  # yesterday's, typed in late
        assert loop.tick() == "ok"
        assert total() == 4


def test_recount_today_in_incremental_mode_then_kiosks_add_to_it(library, settings, client):
    settings.TODAY_COUNT_MODE = "incremental"
    settings.TODAY_INCREMENT_TOKEN = "kiosk-secret"
    settings.VISITOR_SYNC_BUFFER_MS = 0
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-25 08:30:00")
    with at(2026, 11, 25, 10, 0):
        for _ in range(5):  # the first rebuilds the missing counter from SLiMS's 2 visits first
            kiosk_checkin(client)
        out = StringIO()
        call_command("recount_today", stdout=out)
        assert out.getvalue().strip() == "2026-11-25 (incremental mode): 7 → 2"
        assert loop.tick() == "ok"
        assert total() == 2
        kiosk_checkin(client)
        assert loop.tick() == "ok"
        assert total() == 3


def test_recount_today_in_direct_mode(library, settings):
    settings.TODAY_COUNT_MODE = "direct"
    library.visit("2026-11-25 08:00:00")
    library.visit("2026-11-24 23:59:59")
    out = StringIO()
    with at(2026, 11, 25, 10, 0):
        call_command("recount_today", stdout=out)
        assert total() == 1
    assert out.getvalue().strip() == "2026-11-25 (direct mode): unknown → 1"


def test_recount_today_pushes_the_count_to_screens_even_when_it_is_unchanged(library, settings):
    """An operator runs recount_today to put every screen right: each one gets the count
    again, with the recount's time, whether or not the figure moved."""
    settings.TODAY_COUNT_MODE = "delta"
    settings.VISITOR_SYNC_BUFFER_MS = 0
    library.visit("2026-11-25 08:00:00")
    pubsub = get_redis_connection("default").pubsub()
    pubsub.subscribe(keys.today_events_channel())
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    try:
        with at(2026, 11, 25, 10, 0):
            assert loop.tick() == "ok"
        with at(2026, 11, 25, 10, 30):
            call_command("recount_today", stdout=StringIO())
        pushed = []
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            pushed.append(json.loads(message["data"]))
    finally:
        pubsub.close()
    assert [event["total"] for event in pushed] == [1, 1]
    assert pushed[1]["generated_at"].startswith("2026-11-25T10:30:00")


@pytest.fixture
def library_missing_a_column(scratch_library, django_db_blocker):
    """The five tables, but visitor_count without `institution` (an older SLiMS, say)."""
    with django_db_blocker.unblock(), library_writer() as writer, writer.cursor() as cursor:
        for statement in create_statements(writer.vendor):
            cursor.execute(statement)
        if writer.vendor == "mysql":
            cursor.execute("ALTER TABLE visitor_count DROP COLUMN institution")
        else:
            cursor.execute("ALTER TABLE visitor_count DROP COLUMN institution")


def test_doctor_reports_a_missing_column(library_missing_a_column):
    out = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("doctor", stdout=out)
    text = out.getvalue()
    assert "visitor_count lacks column(s) institution" in text
    assert "is missing" not in text  # every table is there
    assert "EXPLAIN" not in text  # the queries cannot run without the column
    for table in ("loan", "item", "biblio", "member"):
        assert table in text
