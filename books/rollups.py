"""loan folded into loans per day, per item and per borrower (metrics_cache.rollups)."""

from __future__ import annotations

from datetime import date

from django.db.models import BooleanField, ExpressionWrapper, Q

from books.models import Biblio, Loan, LoanDay, LoanFact, LoanTally, Member, OpenLoan
from books.selectors import TopBook, TopBorrower, rank_book, rank_borrower
from metrics_cache.rollups import engine, reads, tallies
from metrics_cache.rollups.tallies import CollationKey, key_digest

SOURCE_NAME = "loans"
TITLE, BORROWER = "t:", "b:"


def _rows():
    return Loan.objects.annotate(
        # Compared by the library database: NULL, '' (and ' ') are "no member" there too.
        has_member=ExpressionWrapper(
            Q(member_id__gt=""),
            output_field=BooleanField(),  # pragma: no mutate (Django types a Q as boolean)
        ),
        member_key=CollationKey("member_id"),
        # The copy's title as SLiMS joins it (item_code, by the library's collation, through
        # item's unique index): a loan whose copy does not exist when it is folded never
        # counts for a title.
        # The loan's item_code (the ForeignKey's column, to item.item_code).
        item_key=CollationKey("item_id"),
    ).values_list("loan_id", "loan_date", "item__biblio_id", "member_id", "has_member",
                  "member_key", "item_id", "item_key", "due_date", "is_lent", "is_return",
                  "return_date")  # fmt: skip


TALLIES = tallies.TallyTable(LoanTally, ("total", "last_loan_id", "code"), order=1)


FACTS = ("generation", "loan_id", "day", "item", "member")


def _fold(generation: int, chunk: list[tuple], today: date) -> date:
    days: dict[date, list[int]] = {}
    slots: dict[tuple, list] = {}  # slot -> TALLIES.columns
    facts, still_open = [], []
    for (loan_id, loan_date, biblio_id, member_id, has_member, mkey, code, ikey, due_date,
         is_lent, is_return, return_date) in chunk:  # fmt: skip
        # On loan, or returned today: the set books.circulation re-reads by primary key.
        if (is_return == 1 and return_date == today) or (is_lent == 1 and is_return == 0):
            returned = return_date if is_return == 1 else None
            still_open.append(OpenLoan(generation=generation, loan_id=loan_id,
                                       due_date=due_date, returned_on=returned))  # fmt: skip
        tallies.count_day(days, loan_date, loan_id)
        member_key = key_digest(mkey) if has_member else None
        item_key = None if code is None else key_digest(ikey)
        facts.append((generation, loan_id, loan_date, item_key, member_key))
        if biblio_id is not None:
            tallies.add_row(
                slots, TALLIES, day=loan_date, today=today, key=TITLE + str(biblio_id),
                values=[1, None, None], all_time=True,
            )  # fmt: skip
        if has_member:
            tallies.add_row(
                slots, TALLIES, day=loan_date, today=today,
                key=BORROWER + member_key, values=[1, loan_id, member_id],
            )  # fmt: skip
    tallies.add_days(LoanDay, generation, days)
    tallies.upsert_tallies(TALLIES, generation, slots)
    tallies.write_rows(LoanFact, FACTS, ("generation", "day", "loan_id"), facts)
    OpenLoan.objects.bulk_create(still_open, ignore_conflicts=True)
    return min(days)


SOURCE = engine.Source(
    SOURCE_NAME, Loan, _rows, _fold, LoanDay, TALLIES, counts=(LoanFact, OpenLoan)
)


# --- reading the rollups ----------------------------------------------------------------------
def generation() -> int:
    state = engine.live_state(SOURCE_NAME)
    if state is None:
        # Never reached: every caller checks the rollups are built (RunContext.from_rollups,
        # the reports' build check).
        raise LookupError("the loan rollups are not built")  # pragma: no mutate
    return state.generation


def _tallies(kind: str):
    return LoanTally.objects.filter(generation=generation(), key__startswith=kind)


def daily_loan_totals(*, since: date, until: date) -> dict[date, int]:
    """{loan_date: loans} for since..until inclusive; days without loans are absent."""
    rows = LoanDay.objects.filter(generation=generation(), day__gte=since, day__lte=until)
    return {day: total for day, total in rows.values_list("day", "total") if total}


def borrowers_counted(year: date, until: date) -> int:
    """Distinct borrowers with loans from 1 January of `year` to `until`."""
    return reads.keys_counted(
        LoanTally.objects.filter(generation=generation()), BORROWER, year, until
    )


def _latest_codes(keys, since: date, until: date) -> dict[str, str]:
    """{borrower key: member_id as written on their latest loan in the period}."""
    latest = reads.latest_details(TALLIES, _tallies(BORROWER), keys, since, until)
    return {key: code for key, (_, _, code) in latest.items()}


def top_borrowed_books(*, since: date | None, until: date, limit: int = 10) -> list[TopBook]:
    """As books.selectors.top_borrowed_books, from the rollups: titles read best first, a
    title that is gone skipped, until no title left can reach the list."""
    if since is not None and since > until:
        return []

    def existing(keys: list[str]) -> set[str]:
        ids = [int(key[len(TITLE) :]) for key in keys]
        titles.update(Biblio.objects.filter(biblio_id__in=ids).values_list("biblio_id", "title"))
        return {key for key in keys if titles.get(int(key[len(TITLE) :])) is not None}

    titles: dict[int, str] = {}
    totals = reads.top_totals(_tallies(TITLE), since, until, limit, keep=existing)
    books = [
        TopBook(biblio_id, titles[biblio_id], total)
        for biblio_id, total in ((int(key[len(TITLE) :]), total) for key, total in totals.items())
    ]
    books.sort(key=rank_book)
    return books[:limit]


def top_borrowers(*, since: date | None, until: date, limit: int = 10) -> list[TopBorrower]:
    """As books.selectors.top_borrowers, from the rollups."""
    if since > until:
        return []
    candidates = reads.top_totals(_tallies(BORROWER), since, until, limit)
    codes = _latest_codes(candidates, since, until)
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
