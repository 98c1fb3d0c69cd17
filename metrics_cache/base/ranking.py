"""Top lists: which rows can still be in a top N once ties are broken."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_or_above_cutoff(rows: list[T], *, total: Callable[[T], int], limit: int) -> list[T]:
    """The rows that can be in a top `limit` once ties are broken: total >= the limit-th total."""
    if not rows:
        return []
    totals = sorted((total(row) for row in rows), reverse=True)
    cutoff = totals[min(limit, len(totals)) - 1]
    return [row for row in rows if total(row) >= cutoff]
