"""Report periods: ISO weeks clipped to the period, months and years, the same item a year
earlier (29 February, a 53rd week), and sums over any range of days."""

from __future__ import annotations

from datetime import date

from metrics_cache.reports.periods import (
    DailySeries,
    Period,
    days,
    months,
    previous_year,
    weeks,
    year_earlier,
    years,
)


def test_a_year_earlier_is_the_same_date_and_29_february_is_28():
    assert year_earlier(date(2026, 3, 1)) == date(2025, 3, 1)
    assert year_earlier(date(2024, 2, 29)) == date(2023, 2, 28)
    assert previous_year(Period(date(2024, 2, 29), date(2024, 12, 31))) == Period(
        date(2023, 2, 28), date(2023, 12, 31)
    )


def test_days_are_every_date_oldest_first_each_beside_the_same_date_a_year_earlier():
    buckets = days(Period(date(2024, 2, 28), date(2024, 3, 1)))
    assert [b.fields["date"] for b in buckets] == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert [b.previous for b in buckets] == [
        (date(2023, 2, 28), date(2023, 2, 28)),
        (date(2023, 2, 28), date(2023, 2, 28)),
        (date(2023, 3, 1), date(2023, 3, 1)),
    ]


def test_iso_weeks_start_on_monday_and_the_first_and_last_are_clipped():
    # 2026-12-02 is a Wednesday of 2026-W49; 2026-12-15 a Tuesday of 2026-W51.
    buckets = weeks(Period(date(2026, 12, 2), date(2026, 12, 15)))
    assert [b.fields for b in buckets] == [
        {"week": "2026-W49", "from": "2026-12-02", "to": "2026-12-06"},
        {"week": "2026-W50", "from": "2026-12-07", "to": "2026-12-13"},
        {"week": "2026-W51", "from": "2026-12-14", "to": "2026-12-15"},
    ]
    # The same week number a year earlier, on the same weekdays (Wednesday to Sunday).
    assert buckets[0].previous == (date(2025, 12, 3), date(2025, 12, 7))
    assert buckets[2].previous == (date(2025, 12, 15), date(2025, 12, 16))


def test_a_week_is_named_by_its_iso_year_across_new_year():
    buckets = weeks(Period(date(2025, 12, 29), date(2026, 1, 4)))
    assert [b.fields["week"] for b in buckets] == ["2026-W01"]
    assert buckets[0].previous == (date(2024, 12, 30), date(2025, 1, 5))


def test_a_53rd_week_has_nothing_a_year_earlier_when_that_year_had_52():
    # 2026 has 53 ISO weeks (it starts on a Thursday); 2025 has 52.
    buckets = weeks(Period(date(2026, 12, 28), date(2026, 12, 31)))
    assert buckets[0].fields["week"] == "2026-W53"
    assert buckets[0].previous is None


def test_months_and_years_are_clipped_to_the_period():
    period = Period(date(2025, 11, 15), date(2026, 2, 10))
    assert [(b.fields, b.since, b.until) for b in months(period)] == [
        ({"month": "2025-11"}, date(2025, 11, 15), date(2025, 11, 30)),
        ({"month": "2025-12"}, date(2025, 12, 1), date(2025, 12, 31)),
        ({"month": "2026-01"}, date(2026, 1, 1), date(2026, 1, 31)),
        ({"month": "2026-02"}, date(2026, 2, 1), date(2026, 2, 10)),
    ]
    assert months(period)[0].previous == (date(2024, 11, 15), date(2024, 11, 30))
    assert [(b.fields, b.since, b.until, b.previous) for b in years(period)] == [
        ({"year": 2025}, date(2025, 11, 15), date(2025, 12, 31),
         (date(2024, 11, 15), date(2024, 12, 31))),
        ({"year": 2026}, date(2026, 1, 1), date(2026, 2, 10),
         (date(2025, 1, 1), date(2025, 2, 10))),
    ]  # fmt: skip


def test_a_period_from_the_first_to_a_first_has_whole_months_and_a_last_of_one_day():
    period = Period(date(2026, 1, 1), date(2026, 3, 1))
    assert [(b.since, b.until) for b in months(period)] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 1)),
    ]


def test_a_daily_series_sums_any_range_including_days_without_rows():
    series = DailySeries({date(2026, 1, 2): 3, date(2026, 1, 5): 4, date(2026, 1, 9): 5})
    assert series.total(date(2026, 1, 1), date(2026, 1, 31)) == 12
    assert series.total(date(2026, 1, 2), date(2026, 1, 2)) == 3
    assert series.total(date(2026, 1, 3), date(2026, 1, 4)) == 0
    assert series.total(date(2026, 1, 5), date(2026, 1, 9)) == 9
    assert series.total(date(2026, 1, 10), date(2026, 1, 20)) == 0
    assert DailySeries({}).total(date(2026, 1, 1), date(2026, 1, 2)) == 0
