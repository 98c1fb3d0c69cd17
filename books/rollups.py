"""loan folded into loans per day, per item and per borrower (metrics_cache.rollups)."""

from __future__ import annotations

import time
from datetime import date

from django.db.models import BooleanField, ExpressionWrapper, Q

from books.models import Biblio, Item, Loan, LoanDay, LoanTally, Member
from books.selectors import TopBook, TopBorrower, rank_book, rank_borrower
from metrics_cache import rollups
from metrics_cache.rollups import ALL_TIME_BUCKET, GRAIN_ALL, CollationKey, key_digest, placement

SOURCE_NAME = "loans"
ITEM, BORROWER = "i:", "b:"
# Titles are looked up this many candidates at a time, best first, until the top list is full.
TITLES_PER_STATEMENT = 100


def _rows():
    return Loan.objects.annotate(
        # Compared by the library database: NULL, '' (and ' ') are "no member" there too.
        has_member=ExpressionWrapper(Q(member_id__gt=""), output_field=BooleanField()),
        member_key=CollationKey("member_id"),
        # The copy as SLiMS joins it (item_code, by the library's collation): a loan whose
        # copy does not exist when it is folded never counts for a title.
    ).values_list("loan_id", "loan_date", "item__item_id", "member_id", "has_member",
                  "member_key")  # fmt: skip


TALLIES = rollups.TallyTable(LoanTally, ("total", "last_loan_id", "code"), order=1)


def _fold(generation: int, chunk: list[tuple], today: date) -> None:
    days: dict[date, list[int]] = {}
    tallies: dict[tuple, list] = {}  # slot -> TALLIES.columns

    def add(slot: tuple, loan: list) -> None:
        if slot in tallies:
            TALLIES.merge(tallies[slot], loan)
        else:
            tallies[slot] = loan

    for loan_id, loan_date, item_pk, member_id, has_member, mkey in chunk:
        counted = days.get(loan_date)
        if counted is None:
            days[loan_date] = [1, loan_id, loan_id]
        else:
            counted[0] += 1
            counted[1], counted[2] = min(counted[1], loan_id), max(counted[2], loan_id)
        grain, bucket = placement(loan_date, today)
        if item_pk is not None:
            item = ITEM + str(item_pk)
            add((grain, bucket, item), [1, loan_id, str(item_pk)])
            add((GRAIN_ALL, ALL_TIME_BUCKET, item), [1, loan_id, str(item_pk)])
        if has_member:
            add((grain, bucket, BORROWER + key_digest(mkey)), [1, loan_id, member_id])
    rollups.add_days(LoanDay, generation, days)
    rollups.upsert_tallies(TALLIES, generation, tallies)


def _drop(generation: int) -> None:
    LoanDay.objects.filter(generation=generation).delete()
    LoanTally.objects.filter(generation=generation).delete()


def _compact(generation: int, today: date) -> None:
    rollups.compact_tallies(TALLIES, generation, today)


SOURCE = rollups.Source(SOURCE_NAME, Loan, _rows, _fold, _drop, _compact)


# --- reading the rollups ----------------------------------------------------------------------
def _tallies(kind: str):
    state = rollups.live_state(SOURCE_NAME)
    if state is None:
        raise LookupError("the loan rollups are not built")
    return LoanTally.objects.filter(generation=state.generation, key__startswith=kind)


def _latest_codes(kind: str, keys) -> dict[str, str]:
    state = rollups.live_state(SOURCE_NAME)
    codes: dict[str, str] = {}
    for batch in rollups.grouped(keys):
        rows = (
            LoanTally.objects.filter(generation=state.generation, key__in=batch)
            .order_by("last_loan_id")
            .values_list("key", "code")
        )
        codes.update(rows)
    return codes


def item_titles() -> dict[int, int]:
    """{item_id: biblio_id} for every copy, read from SLiMS's item table in short chunks."""
    mapping: dict[int, int] = {}
    last_id, sizer = 0, rollups.ChunkSizer()
    while True:
        started = time.perf_counter()
        chunk = list(
            Item.objects.filter(item_id__gt=last_id)
            .order_by("item_id")
            .values_list("item_id", "biblio_id")[: sizer.rows]
        )
        mapping.update((item, biblio) for item, biblio in chunk if biblio is not None)
        if len(chunk) < sizer.rows:
            return mapping
        sizer.update(len(chunk), time.perf_counter() - started)
        last_id = chunk[-1][0]


def top_borrowed_books(
    *, since: date | None, until: date, titles_of_items: dict[int, int], limit: int = 10
) -> list[TopBook]:
    """As books.selectors.top_borrowed_books, from the rollups; a copy or title that is gone
    takes no place."""
    if since is not None and since > until:
        return []
    per_title: dict[int, int] = {}
    for key, total in rollups.period_totals(_tallies(ITEM), since, until):
        biblio_id = titles_of_items.get(int(key[len(ITEM) :]))
        if biblio_id is not None and total > 0:
            per_title[biblio_id] = per_title.get(biblio_id, 0) + total
    ranked = sorted(per_title.items(), key=lambda row: -row[1])
    books: list[TopBook] = []
    for start in range(0, len(ranked), TITLES_PER_STATEMENT):
        batch = ranked[start : start + TITLES_PER_STATEMENT]
        titles = dict(
            Biblio.objects.filter(biblio_id__in=[b for b, _ in batch]).values_list(
                "biblio_id", "title"
            )
        )
        books += [TopBook(b, titles[b], total) for b, total in batch if titles.get(b) is not None]
        following = start + TITLES_PER_STATEMENT
        books.sort(key=rank_book)
        # Full once `limit` titles exist and no title left can tie with the last of them.
        if len(books) >= limit and (
            following >= len(ranked) or ranked[following][1] < books[limit - 1].total
        ):
            break
    return books[:limit]


def top_borrowers(*, since: date | None, until: date, limit: int = 10) -> list[TopBorrower]:
    """As books.selectors.top_borrowers, from the rollups."""
    if since is not None and since > until:
        return []
    totals = rollups.period_totals(_tallies(BORROWER), since, until)
    candidates = rollups.top_totals(totals, limit)
    codes = _latest_codes(BORROWER, candidates)
    names = dict(
        Member.objects.filter(member_id__in=list(codes.values())).values_list(
            "member_id", "member_name"
        )
    )
    borrowers = [
        TopBorrower(codes[key], names.get(codes[key]), total) for key, total in candidates.items()
    ]
    borrowers.sort(key=rank_borrower)
    return borrowers[:limit]
