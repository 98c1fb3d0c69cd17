"""Fixtures of the fast path's tests: a clock mid-month and the snapshots stored."""

from __future__ import annotations

from datetime import datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from metrics_cache.today import publishing
from tests.support.edge import ALLOWED_ORIGIN, JAKARTA


@pytest.fixture
def clock():
    # Mid-month, mid-day: yesterday is in this month (the 1st would empty the top lists).
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=JAKARTA), tick=False):
        yield


@pytest.fixture
def stored(library, clock, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    settings.THROTTLE_ANON_RATE = "100000/min"
    library.visit("2026-11-17 10:00:00", member_id="2021001", name="Budi Santoso")
    library.member("2021001", "Budi Santoso")
    library.loan(library.item(library.biblio("Kalkulus")), "2021001", "2026-11-17")
    call_command("prewarm", stdout=StringIO())
    publishing.publish(7, datetime(2026, 11, 18).date())
    return library
