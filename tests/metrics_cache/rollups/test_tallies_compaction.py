"""Compaction: an ended month's day and month buckets go into its year, in one generation
only, and every figure stays a full recount's.
"""

from __future__ import annotations

from datetime import date

import pytest

from books import rollups as book_rollups
from books.models import LoanTally
from metrics_cache.rollups import engine, tallies
from tests.support.library import library_test
from tests.support.rollups import (
    a_library,
    assert_rollups_match_a_full_recount,
    at,
    build,
)
from visitors import rollups as visit_rollups
from visitors.models import VisitorTally

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def test_the_loans_of_ended_months_are_compacted_into_their_year(library):
    """After a month ends its loans' day and month buckets go (the year's keep the counts and
    each borrower's code), so the tallies do not grow with every day of history."""
    with at(2026, 11, 25, 10, 0):
        a_library(library)
        build()  # this month's loans in day buckets
        assert LoanTally.objects.filter(grain="D", bucket=date(2026, 11, 24)).exists()
    with at(2027, 1, 1, 0, 5):
        engine.compact_live(book_rollups.SOURCE, date(2027, 1, 1))
        assert not LoanTally.objects.filter(
            grain__in=("D", "M"), bucket__lt=date(2027, 1, 1)
        ).exists()
        assert_rollups_match_a_full_recount(date(2027, 1, 1))


def test_compaction_leaves_other_generations_alone(library):
    """A month's end is compacted in one generation (the live one, or the one a verification is
    folding): another generation's buckets of that month stay as they are."""
    library.member("M1", "Ani")
    library.visit("2026-10-05 09:00:00", member_id="M1", name="Ani")
    with at(2026, 10, 20, 10, 0):
        build()
    live = engine.live_state("visits").generation
    other = list(VisitorTally.objects.filter(generation=live).values())
    for row in other:
        row.update(id=None, generation=live + 1)
    VisitorTally.objects.bulk_create(VisitorTally(**row) for row in other)
    tallies.compact_tallies(visit_rollups.TALLIES, live, date(2026, 11, 25))
    compacted = VisitorTally.objects.filter(generation=live).values_list("grain", "total")
    untouched = VisitorTally.objects.filter(generation=live + 1).values_list("grain", "total")
    assert sorted(compacted) == [("Y", 1)]
    assert sorted(untouched) == [("D", 1), ("M", 1), ("Y", 1)]
