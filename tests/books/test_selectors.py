"""Book and borrower rankings as the scanning selectors compute them (before the rollups)."""

from __future__ import annotations

from datetime import date

from books.selectors import TopBorrower, top_borrowers
from tests.support.library import library_test

pytestmark = library_test


def test_borrower_ties_order_names_as_text_a_blank_name_first_and_a_departed_member_last(
    library,
):
    """Same number of loans: by name as text (a member row with a blank name sorts before
    any other name), a member whose row is gone (no name) last."""
    code = library.item(library.biblio("Kalkulus"))
    library.member("B", "Zainal")
    library.member("C", "")  # a member row saved without a name
    library.member("D", "Andi")
    for member in ("A", "B", "C", "D"):  # A has no member row any more
        library.loan(code, member, "2026-11-10")
    assert top_borrowers(since=date(2026, 11, 1), until=date(2026, 11, 24)) == [
        TopBorrower("C", "", 1),
        TopBorrower("D", "Andi", 1),
        TopBorrower("B", "Zainal", 1),
        TopBorrower("A", None, 1),
    ]
