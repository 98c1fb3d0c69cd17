"""The summaries: several snapshots in one answer (answer field -> metric name)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    kind: str  # its Redis key's part and its URL's first segment
    parts: dict[str, str]  # answer field -> metric name
    with_today: bool = False  # today's live count beside the snapshots


VISITORS = Summary(
    "visitors",
    {
        "weekly": "weekly",
        "monthly": "monthly",
        "yearly": "yearly",
        "top_month": "top_visitors_month",
        "top_year": "top_visitors_year",
    },
    with_today=True,
)
BOOKS = Summary(
    "books",
    {
        "collection": "collection",
        "top_borrowed": "top_borrowed",
        "top_borrowed_month": "top_borrowed_month",
        "top_borrowed_year": "top_borrowed_year",
        "top_borrowers_month": "top_borrowers_month",
        "top_borrowers_year": "top_borrowers_year",
    },
)
SUMMARIES = (VISITORS, BOOKS)


def path(summary: Summary) -> str:
    return f"api/{summary.kind}/summary"
