"""Reads of the catalogue and circulation tables.

Loan counts here scan loan (no index on loan_date): snapshots use them only until the rollups
are built (books.rollups).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, F

from books.models import Biblio, Item, Loan, Member
from metrics_cache.base.ranking import at_or_above_cutoff


@dataclass(frozen=True)
class Collection:
    titles: int
    items: int


@dataclass(frozen=True)
class TopBook:
    biblio_id: int
    title: str
    total: int


@dataclass(frozen=True)
class TopBorrower:
    member_id: str
    member_name: str | None
    total: int


def rank_book(book: TopBook) -> tuple:
    return (-book.total, book.title.casefold(), book.biblio_id)


def rank_borrower(borrower: TopBorrower) -> tuple:
    name = borrower.member_name
    return (-borrower.total, name is None, (name or "").casefold(), borrower.member_id)


def collection_size() -> Collection:
    # COUNT(*) without WHERE is answered from MyISAM's row count, without a scan.
    return Collection(titles=Biblio.objects.count(), items=Item.objects.count())


def loans_between(*, since: date | None, until: date):
    """Loans dated since..until inclusive (all loans up to `until` when since is None)."""
    loans = Loan.objects.filter(loan_date__lte=until)
    if since is None:
        return loans
    if since > until:
        return loans.none()
    return loans.filter(loan_date__gte=since)


def book_totals_query(*, since: date | None, until: date):
    """(biblio_id, loans) rows; a loan whose copy or title no longer exists is left out."""
    return (
        loans_between(since=since, until=until)
        # Inner joins: only loans whose item and biblio rows still exist count. (A test on
        # biblio_id would be answered from item.biblio_id without joining biblio at all.)
        .filter(item__biblio__title__isnull=False)
        # Grouped by the id alone: grouping by biblio.title (TEXT) sends MariaDB's temporary
        # table to disk, several times slower (BENCHMARKS.md).
        .values(biblio_id=F("item__biblio__biblio_id"))
        .annotate(total=Count("loan_id"))
        .order_by()
        .values_list("biblio_id", "total")
    )


def top_borrowed_books(*, since: date | None, until: date, limit: int = 10) -> list[TopBook]:
    """Titles by loans; a loan whose copy or title no longer exists is left out."""
    totals = book_totals_query(since=since, until=until)
    candidates = dict(at_or_above_cutoff(list(totals), total=lambda row: row[1], limit=limit))
    titles = Biblio.objects.filter(biblio_id__in=candidates).values_list("biblio_id", "title")
    books = [TopBook(biblio_id, title, candidates[biblio_id]) for biblio_id, title in titles]
    books.sort(key=rank_book)
    return books[:limit]


def borrower_totals_query(*, since: date | None, until: date):
    """(member_id, loans) rows for loans with a member id (neither NULL nor '')."""
    return (
        loans_between(since=since, until=until)
        .filter(member_id__gt="")
        .values("member_id")
        .annotate(total=Count("loan_id"))
        .order_by()
        .values_list("member_id", "total")
    )


def top_borrowers(*, since: date | None, until: date, limit: int = 10) -> list[TopBorrower]:
    """Members by loans, named from member (None if the member row is gone)."""
    # No join to member: SLiMS keeps no foreign keys, Django assumes it does and would turn a
    # join into an INNER JOIN, dropping members whose row is gone. Names come afterwards,
    # for the candidates only.
    totals = borrower_totals_query(since=since, until=until)
    candidates = dict(at_or_above_cutoff(list(totals), total=lambda row: row[1], limit=limit))
    names = dict(
        Member.objects.filter(member_id__in=candidates).values_list("member_id", "member_name")
    )
    borrowers = [
        TopBorrower(member_id, names.get(member_id), total)
        for member_id, total in candidates.items()
    ]
    borrowers.sort(key=rank_borrower)
    return borrowers[:limit]
