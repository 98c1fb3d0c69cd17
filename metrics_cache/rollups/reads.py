"""Reading the tallies: the top of a period, and the details of its latest rows."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import date

from django.db import models
from django.db.models import Q, Sum

from metrics_cache.rollups.tallies import (
    ALL_TIME_BUCKET,
    GRAIN_ALL,
    GRAIN_DAY,
    GRAIN_MONTH,
    GRAIN_YEAR,
    KEYS_PER_STATEMENT,
    TallyTable,
    grouped,
    next_month,
)


def _is_year_to_date(since: date) -> bool:
    return since.month == 1 and since.day == 1


def _whole_and_later(since: date | None, until: date) -> tuple[Q, Q]:
    """The running-total bucket that holds since..until and whatever is dated after `until`
    in it, for `since` None (all time), 1 January or the 1st of a month (the contract's
    periods); rows dated after `until` are all in day buckets."""
    if since is None:
        # The bucket named too, so the ranked index's whole prefix is an equality and walks
        # best first (without it, SQLite sorted every title: 102 ms at 5 M visits).
        return Q(grain=GRAIN_ALL, bucket=ALL_TIME_BUCKET), Q(grain=GRAIN_DAY, bucket__gt=until)
    if _is_year_to_date(since):
        whole, end = Q(grain=GRAIN_YEAR, bucket=since), since.replace(year=since.year + 1)
    else:
        whole, end = Q(grain=GRAIN_MONTH, bucket=since), next_month(since)
    return whole, Q(grain=GRAIN_DAY, bucket__gt=until, bucket__lt=end)


def top_totals(
    tallies: models.QuerySet,
    since: date | None,
    until: date,
    limit: int,
    *,
    keep: Callable[[list[str]], set[str]] | None = None,
) -> dict[str, int]:
    """{key: total over since..until} for the keys that can be in a top `limit` once ties are
    broken (total >= the limit-th total). The running totals are read best first through
    their index and no further than the cutoff; `keep` drops keys that take no place (a
    title that is gone), a batch at a time."""
    whole, later = _whole_and_later(since, until)
    after = dict(
        tallies.filter(later).values("key").annotate(sum=Sum("total")).values_list("key", "sum")
    )
    ranked = tallies.filter(whole).order_by("-total").values_list("key", "total")
    best: dict[str, int] = {}
    smallest: list[int] = []  # a min-heap of the `limit` largest totals kept
    pending: list[tuple[str, int]] = []

    def settle() -> None:
        kept = keep([key for key, _ in pending]) if keep else None
        for key, total in pending:
            if kept is None or key in kept:
                best[key] = total
                heapq.heappush(smallest, total)
                if len(smallest) > limit:
                    heapq.heappop(smallest)
        pending.clear()

    # How many rows a read fetches at a time, not which: the same list.
    for key, total in ranked.iterator(chunk_size=max(100, limit * 4)):  # pragma: no mutate
        # A total less what is dated later never exceeds the running total: stop at the cutoff.
        if len(smallest) == limit and total < smallest[0]:
            break
        if (total := total - after.get(key, 0)) > 0:
            pending.append((key, total))
        # When the keys are settled (each row, or in batches), not which are kept.
        if not keep or len(pending) >= KEYS_PER_STATEMENT:  # pragma: no mutate
            settle()
    settle()
    cutoff = smallest[0] if len(smallest) == limit else 1
    return {key: total for key, total in best.items() if total >= cutoff}


def latest_details(
    table: TallyTable, tallies: models.QuerySet, keys, since: date, until: date
) -> dict[str, list]:
    """{key: the values of its latest row in since..until} for `keys`: from the day buckets in
    range and, for a year, the year bucket (whose details come only from rows without a day
    bucket). Each kind of bucket is read on its own, by equality on every column of the unique
    index: the day buckets by the days that have one (a range of days made SQLite read every
    row of the month for each batch of keys: 40 ms a batch at 5 M visits)."""
    # Widened to other grains or earlier days, the read merges in only rows that are older
    # than the period's own (the latest wins) or that carry no details.
    days = (
        tallies.filter(
            grain=GRAIN_DAY,
            # This pragma also covers dropping `grain` (mutmut counts it as touching this line).
            bucket__gte=since,  # pragma: no mutate
            bucket__lte=until,
        )
        .order_by()
        .values_list("bucket", flat=True)
        .distinct()
    )
    parts = [Q(grain=GRAIN_DAY, bucket__in=list(days))]
    if _is_year_to_date(since):
        parts.append(Q(grain=GRAIN_YEAR, bucket=since))
    latest: dict[str, list] = {}
    for part in parts:
        described = tallies.filter(part, **{f"{table.columns[1]}__isnull": False})
        for batch in grouped(keys):
            rows = described.filter(key__in=batch).values_list("key", *table.columns)
            for key, *values in rows:
                if key in latest:
                    table.merge(latest[key], [0, *values[1:]])
                else:
                    latest[key] = values
    return latest


def keys_counted(rows: models.QuerySet, prefix: str, year: date, until: date) -> int:
    """How many keys starting with `prefix` (one kind of key) of `rows` (a tally model's live
    generation) have rows dated in `year`'s 1 January..`until`: the year's bucket, less the
    keys whose every row there is dated after `until` (those sit in day buckets)."""
    # A range of keys, not LIKE: the tally's unique index (generation, grain, bucket, key)
    # then counts the year's keys by itself; the rare keys left at zero are few to read. A key
    # is its prefix and a hex digest, which sorts below "~".
    keyed = rows.filter(key__gte=prefix, key__lt=prefix + "~")
    whole = keyed.filter(grain=GRAIN_YEAR, bucket=year)
    zero = rows.filter(grain=GRAIN_YEAR, bucket=year, total=0).values_list("key", flat=True)
    present = whole.count() - sum(key.startswith(prefix) for key in zero)
    later = dict(
        keyed.filter(grain=GRAIN_DAY, bucket__gt=until, bucket__lt=year.replace(year=year.year + 1))
        .values_list("key")
        .annotate(n=Sum("total"))
        .order_by()
    )
    only_later = 0
    for batch in grouped(list(later), KEYS_PER_STATEMENT):  # pragma: no mutate (any batch size)
        # (A key at zero in the year is already left out above.)
        for key, total in whole.filter(key__in=batch, total__gt=0).values_list("key", "total"):
            only_later += total == later[key]
    return present - only_later
