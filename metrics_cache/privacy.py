"""Member details in top lists, by audience.

Top visitors and top borrowers name library members. Indonesia's personal data protection
law (UU PDP, Law 27/2022) asks that personal data be shown only as far as the purpose needs:
an entrance screen needs "Budi S." at most, never a member number. So anonymous requests get
MEMBER_DETAILS (default `masked`); authenticated staff get the full details.
"""

from __future__ import annotations

from django.conf import settings

PERSONAL_FIELDS = ("member_id", "member_name")
MODES = ("full", "masked", "hidden")  # MEMBER_DETAILS


def mask_name(name: str | None) -> str | None:
    """'Budi Santoso Wijaya' -> 'Budi S. W.'; a single name stays as it is."""
    if not name:
        return name
    first, *rest = name.split()
    return " ".join([first, *(f"{part[0]}." for part in rest)])


def public_rows(rows: list[dict], mode: str | None = None) -> list[dict]:
    mode = mode or settings.MEMBER_DETAILS
    if mode == "full":
        return rows
    public = []
    for row in rows:
        row = {**row, "member_id": None}
        row["member_name"] = mask_name(row["member_name"]) if mode == "masked" else None
        public.append(row)
    return public
