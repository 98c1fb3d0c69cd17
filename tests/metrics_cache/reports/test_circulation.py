"""Circulation now: loans on loan and overdue in bands, lent and returned today; returns,
renewals and deletions are seen by re-reading the open loans by primary key, never by
scanning `loan`."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from books import circulation
from metrics_cache.reports import lookups
from tests.support.client import get_json
from tests.support.library import library_test
from tests.support.rollups import at, build

pytestmark = [*library_test, pytest.mark.usefixtures("delta_mode")]


def lend(library, day: str, due: str) -> int:
    loan_id = library.loan("B1", "M1", day)
    library.execute("UPDATE loan SET due_date = %s, is_lent = 1 WHERE loan_id = %s", [due, loan_id])
    return loan_id


def give_back(library, loan_id: int, day: str) -> None:
    library.execute(
        "UPDATE loan SET is_return = 1, return_date = %s WHERE loan_id = %s", [day, loan_id]
    )


def get() -> dict:
    return get_json("/api/reports/circulation")


def test_on_loan_overdue_in_bands_and_lent_today(library):
    lend(library, "2026-12-05", "2026-12-12")  # today, not due
    lend(library, "2026-11-20", "2026-12-04")  # 1 day overdue
    lend(library, "2026-11-20", "2026-11-28")  # 7 days
    lend(library, "2026-11-01", "2026-11-27")  # 8 days
    lend(library, "2026-10-01", "2026-11-05")  # 30 days
    lend(library, "2026-09-01", "2026-11-04")  # 31 days
    lend(library, "2026-11-30", "2026-12-05")  # due today: not overdue
    returned = lend(library, "2026-11-01", "2026-11-08")
    give_back(library, returned, "2026-11-10")
    with at(2026, 12, 5, 11, 0):
        build()
        # Built, but the open loans not yet re-read: nothing to count from yet.
        building = Client().get("/api/reports/circulation")
        assert building.status_code == 202 and building.json()["progress"] == 0.0
        circulation.refresh()
        body = get()
        # Compact JSON, as every answer is.
        compact = Client().get("/api/reports/circulation").content
        assert compact.startswith(b'{"report":"circulation","generated_at":"2026-12-05T11:00')
    assert body["on_loan"] == 7 and body["overdue"] == 5
    assert body["overdue_by_days"] == [
        {"from": 1, "to": 7, "total": 2},
        {"from": 8, "to": 30, "total": 2},
        {"from": 31, "to": None, "total": 1},
    ]
    assert body["loaned_today"] == 1 and body["returned_today"] == 0


def test_returns_renewals_and_deletions_are_seen_by_primary_key(library):
    first = lend(library, "2026-11-20", "2026-12-01")
    second = lend(library, "2026-11-20", "2026-12-01")
    third = lend(library, "2026-11-20", "2026-12-01")
    already = lend(library, "2026-12-05", "2026-12-12")
    give_back(library, already, "2026-12-05")  # lent and returned before the fold
    with at(2026, 12, 5, 11, 0):
        build()
        circulation.refresh()
        assert get()["returned_today"] == 1
        assert get()["on_loan"] == 3 and get()["overdue"] == 3
        give_back(library, first, "2026-12-05")
        library.execute("UPDATE loan SET due_date = '2026-12-19' WHERE loan_id = %s", [second])
        library.execute("DELETE FROM loan WHERE loan_id = %s", [third])  # a stock-take
        with CaptureQueriesContext(connections["library"]) as slims:
            circulation.refresh()
        # One statement, by primary key (read before a request resets the query log).
        statements = [q["sql"] for q in slims]
        assert len(statements) == 1 and "IN (" in statements[0]
        body = get()
    assert body["on_loan"] == 1 and body["overdue"] == 0 and body["returned_today"] == 2
    with at(2026, 12, 6, 8, 0):
        circulation.refresh()
        assert get()["returned_today"] == 0  # a new day


def test_circulation_as_csv(library):
    lend(library, "2026-11-20", "2026-12-01")
    with at(2026, 12, 5, 11, 0):
        build()
        circulation.refresh()
        response = Client().get("/api/reports/circulation", {"format": "csv"})
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "key,value"
    assert "on_loan,1" in lines and "overdue_1_7,1" in lines and "overdue_31_,0" in lines
    assert response["Content-Disposition"] == 'attachment; filename="circulation_2026-12-05.csv"'


def test_loans_closed_on_an_earlier_day_or_no_longer_lent_leave_and_a_dateless_return_is_today(
    library,
):
    deleted, returned, dateless, earlier, cancelled, _open = (
        lend(library, "2026-11-20", "2026-12-01") for _ in range(6)
    )
    with at(2026, 12, 5, 11, 0):
        build()
        circulation.refresh()
        assert get()["on_loan"] == 6
        # The first of the batch deleted, so the rest of it must still be looked at.
        library.execute("DELETE FROM loan WHERE loan_id = %s", [deleted])
        give_back(library, returned, "2026-12-05")
        library.execute("UPDATE loan SET is_return = 1 WHERE loan_id = %s", [dateless])
        give_back(library, earlier, "2026-12-04")  # recorded late, for yesterday
        library.execute("UPDATE loan SET is_lent = 0 WHERE loan_id = %s", [cancelled])
        circulation.refresh()
        body = get()
    assert (body["on_loan"], body["returned_today"]) == (1, 2)


def test_open_loans_are_re_read_in_statements_of_a_bounded_number_of_ids(library, monkeypatch):
    for _ in range(5):
        lend(library, "2026-11-20", "2026-12-01")
    monkeypatch.setattr(circulation, "IDS_PER_STATEMENT", 2)
    with at(2026, 12, 5, 11, 0):
        build()
        with CaptureQueriesContext(connections["library"]) as slims:
            circulation.refresh()
        assert len(slims) == 3
        assert lookups.status()["loan"] == "ok"
        assert get()["on_loan"] == 5


def test_lent_today_is_today_s_and_the_figures_are_as_of_the_last_re_read(library):
    lend(library, "2026-11-20", "2026-12-01")
    lend(library, "2026-11-20", "2026-12-01")
    with at(2026, 12, 5, 11, 0):
        build()
        circulation.refresh()
    with at(2026, 12, 5, 11, 30):
        body = get()
    assert body["loaned_today"] == 0 and body["on_loan"] == 2
    assert body["generated_at"] == "2026-12-05T11:00:00.000+07:00"  # the re-read's time
    lend(library, "2026-12-05", "2026-12-12")
    with at(2026, 12, 5, 12, 0):
        build()
        circulation.refresh()
        assert get()["loaned_today"] == 1
