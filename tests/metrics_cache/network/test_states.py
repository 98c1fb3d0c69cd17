"""A library's state at the edge of "behind", and each library's keys worked out once per
process (the listing reads them on every request)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from config.libraries import Library
from metrics_cache.network import states


def test_a_loop_is_behind_only_past_three_intervals(settings):
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 5000
    last = timezone.now()
    at = last.isoformat()
    assert not states.behind(at, last + timedelta(seconds=15))
    assert states.behind(at, last + timedelta(seconds=15, milliseconds=1))
    assert states.state({"last_success_at": at}, last + timedelta(seconds=15)) == states.OK
    # An interval under a second counts as one: three seconds, not three intervals.
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 1000
    assert not states.behind(at, last + timedelta(seconds=3))
    assert states.behind(at, last + timedelta(seconds=4))
    settings.VISITOR_SYNC_MIN_INTERVAL_MS = 500
    assert not states.behind(at, last + timedelta(seconds=2))


def test_each_library_s_keys_are_worked_out_once_until_the_libraries_change(settings):
    first = states._described_libraries()
    assert states._described_libraries() is first
    other = Library("timur", "Perpustakaan Timur", {}, "Asia/Jayapura", None,
                    alias="library", service_alias="default")  # fmt: skip
    settings.LIBRARIES = [*settings.LIBRARIES, other]
    again = states._described_libraries()
    assert again is not first and [row[0] for row in again][-1] == "timur"
    assert states._described_libraries() is again
