"""loan folded into loans per day, per item and per borrower (metrics_cache.rollups)."""

from __future__ import annotations

from datetime import date

from django.db.models import BooleanField, ExpressionWrapper, Q, Sum

from books.models import Biblio, Item, Loan, LoanDay, LoanTally, Member
from books.selectors import TopBook, TopBorrower, rank_book, rank_borrower
from config.library import at_or_above_cutoff
from metrics_cache import rollups
from metrics_cache.rollups import CollationKey, key_digest, placement

SOURCE_NAME = "loans"
ITEM, BORROWER = "i:", "b:"
# Titles are looked up this many candidates at a time, best first, until the top list is full.
TITLES_PER_STATEMENT = 100


def _rows():
    return Loan.objects.annotate(
        # Compared by the library database: NULL, '' (and ' ') are "no member" there too.
        has_member=ExpressionWrapper(Q(member_id__gt=""), output_field=BooleanField()),
        item_key=CollationKey("item_id"),
        member_key=CollationKey("member_id"),
    ).values_list("loan_id", "loan_date", "item_id", "member_id", "has_member", "item_key",
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

    for loan_id, loan_date, item_code, member_id, has_member, ikey, mkey in chunk:
        counted = days.get(loan_date)
        if counted is None:
            days[loan_date] = [1, loan_id, loan_id]
        else:
            counted[0] += 1
            counted[1], counted[2] = min(counted[1], loan_id), max(counted[2], loan_id)
        grain, bucket = placement(loan_date, today)
        if item_code is not None:
            add((grain, bucket, ITEM + key_digest(ikey)), [1, loan_id, item_code])
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
def _totals(kind: str, since: date | None, until: date) -> dict[str, int]:
    state = rollups.live_state(SOURCE_NAME)
    if state is None:
        raise LookupError("the loan rollups are not built")
    tallies = LoanTally.objects.filter(
        Q(generation=state.generation, key__startswith=kind) & rollups.in_period(since, until)
    )
    return dict(
        tallies.values("key").annotate(sum=Sum("total")).order_by().values_list("key", "sum")
    )


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


def item_titles() -> dict[str, int]:
    """{item key: biblio_id} for every copy, read from SLiMS's item table in short chunks."""
    items = Item.objects.annotate(key=CollationKey("item_code")).exclude(item_code=None)
    mapping: dict[str, int] = {}
    last_id, sizer = 0, rollups.ChunkSizer()
    while True:
        chunk = list(
            items.filter(item_id__gt=last_id)
            .order_by("item_id")
            .values_list("item_id", "key", "biblio_id")[: sizer.rows]
        )
        mapping.update((ITEM + key_digest(key), biblio) for _, key, biblio in chunk if biblio)
        if len(chunk) < sizer.rows:
            return mapping
        last_id = chunk[-1][0]


def top_borrowed_books(
    *, since: date | None, until: date, titles_of_items: dict[str, int], limit: int = 10
) -> list[TopBook]:
    """As books.selectors.top_borrowed_books, from the rollups; a copy or title that is gone
    takes no place."""
    if since is not None and since > until:
        return []
    per_title: dict[int, int] = {}
    for key, total in _totals(ITEM, since, until).items():
        biblio_id = titles_of_items.get(key)
        if biblio_id is not None:
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
    totals = list(_totals(BORROWER, since, until).items())
    candidates = dict(at_or_above_cutoff(totals, total=lambda row: row[1], limit=limit))
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
