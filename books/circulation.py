"""Circulation now: the loans on loan and overdue, lent and returned today. A return is an
UPDATE of a loan row already folded, so the fold keeps the set of open loans (books.OpenLoan)
and this module re-reads exactly those rows by primary key; `loan` is never scanned."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from books import rollups
from books.models import Loan, LoanDay, OpenLoan
from config.library import own_tables
from metrics_cache.reports.models import LookupCopy
from metrics_cache.rollups import engine
from metrics_cache.rollups.tallies import grouped

KIND = "open_loans"
# Loan ids per statement when re-reading the open loans (one primary-key lookup each).
IDS_PER_STATEMENT = 500
# Days overdue, as the contract's bands: 1-7, 8-30, 31 and more.
BANDS = ((1, 7), (8, 30), (31, None))


def is_open(is_lent, is_return) -> bool:
    return is_lent == 1 and is_return == 0


def refresh(today: date | None = None) -> LookupCopy | None:
    """Re-reads every open loan of the live rollups by primary key: returned (kept as
    returned today when it was), renewed (its new due date) or deleted (a stock-take drops
    the loans of copies found missing). None while the rollups are still being built."""
    state = engine.live_state(rollups.SOURCE_NAME)
    if state is None or state.built_at is None:
        return None
    today = today or timezone.localdate()
    record, _ = LookupCopy.objects.get_or_create(kind=KIND, defaults={"table": "loan"})
    rows = OpenLoan.objects.filter(generation=state.generation)
    rows.filter(returned_on__lt=today).delete()
    stored = dict(rows.filter(returned_on__isnull=True).values_list("loan_id", "due_date"))
    gone, returned, renewed = [], [], {}
    for batch in grouped(list(stored), IDS_PER_STATEMENT):
        now = {
            loan_id: rest
            for loan_id, *rest in Loan.objects.filter(loan_id__in=batch).values_list(
                "loan_id", "due_date", "is_lent", "is_return", "return_date"
            )
        }
        for loan_id in batch:
            if loan_id not in now:
                gone.append(loan_id)  # a stock-take deletes the loans of missing copies
                continue
            due_date, is_lent, is_return, return_date = now[loan_id]
            if is_open(is_lent, is_return):
                if due_date != stored[loan_id]:
                    renewed[loan_id] = due_date
            elif is_return == 1 and (return_date or today) >= today:
                returned.append(loan_id)
            else:  # returned on an earlier day, or no longer lent
                gone.append(loan_id)
    with transaction.atomic(using=own_tables()):
        for ids in grouped(gone):
            rows.filter(loan_id__in=ids).delete()
        for ids in grouped(returned):
            rows.filter(loan_id__in=ids).update(returned_on=today)
        for loan_id, due_date in renewed.items():
            rows.filter(loan_id=loan_id).update(due_date=due_date)
    record.copied_at, record.rows, record.error = timezone.now(), len(stored), ""
    record.save()
    return record


def now(today: date) -> dict | None:
    """The contract's circulation figures as of the last re-read; None before the first."""
    state = engine.live_state(rollups.SOURCE_NAME)
    record = LookupCopy.objects.filter(kind=KIND).first()
    if state is None or state.built_at is None or record is None or record.copied_at is None:
        return None
    rows = OpenLoan.objects.filter(generation=state.generation)
    on_loan = rows.filter(returned_on__isnull=True)
    bands = []
    for first, last in BANDS:
        # Overdue by d days: due_date = today - d.
        due = Q(due_date__lte=today - timedelta(days=first))
        if last is not None:
            due &= Q(due_date__gte=today - timedelta(days=last))
        bands.append({"from": first, "to": last, "total": on_loan.filter(due).count()})
    lent_today = LoanDay.objects.filter(generation=state.generation, day=today).first()
    counts = on_loan.aggregate(
        on_loan=Count("pk"), overdue=Count("pk", filter=Q(due_date__lt=today))
    )
    return {
        "report": "circulation",
        "generated_at": timezone.localtime(record.copied_at).isoformat(timespec="milliseconds"),
        "on_loan": counts["on_loan"],
        "overdue": counts["overdue"],
        "overdue_by_days": bands,
        "loaned_today": lent_today.total if lent_today else 0,
        "returned_today": rows.filter(returned_on=today).count(),
    }
