"""at_or_above_cutoff: the top of a ranked list, every row tied with the last place kept."""

from __future__ import annotations

from metrics_cache.base.ranking import at_or_above_cutoff


def test_the_cutoff_keeps_every_row_tied_with_the_last_place():
    rows = [("a", 9), ("b", 7), ("c", 7), ("d", 7), ("e", 3)]
    total = lambda row: row[1]  # noqa: E731
    assert at_or_above_cutoff(rows, total=total, limit=2) == rows[:4]
    assert at_or_above_cutoff(rows, total=total, limit=1) == rows[:1]
    assert at_or_above_cutoff(rows, total=total, limit=5) == rows
    assert at_or_above_cutoff(rows, total=total, limit=10) == rows, "fewer rows than the limit"
    assert at_or_above_cutoff(list(reversed(rows)), total=total, limit=2) == list(
        reversed(rows[:4])
    )
    assert at_or_above_cutoff([], total=total, limit=10) == []
