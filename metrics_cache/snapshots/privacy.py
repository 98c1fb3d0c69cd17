"""Member details in top lists, by audience.

Top visitors and top borrowers name library members. Indonesia's personal data protection
law (UU PDP, Law 27/2022) asks that personal data be shown only as far as the purpose needs:
an entrance screen needs "Budi S." at most, never a member number. So anonymous requests get
MEMBER_DETAILS (default `masked`); authenticated staff get the full details.

Every audience's rows are prepared when a snapshot is stored (snapshots.store.variants); a request
only picks one, so a change of MEMBER_DETAILS applies to the next request.
"""

from __future__ import annotations

from django.conf import settings

PERSONAL_FIELDS = ("member_id", "member_name")
# What each audience sees; staff always get FULL.
FULL, MASKED, HIDDEN = "full", "masked", "hidden"
AUDIENCES = (FULL, MASKED, HIDDEN)


def mask_name(name: str | None) -> str | None:
    """'Budi Santoso Wijaya' -> 'Budi S. W.'; a single name stays as it is; a name of only
    spaces is no name (it is returned as it came, never raising)."""
    if not name or not name.strip():
        return name
    first, *rest = name.split()
    return " ".join([first, *(f"{part[0]}." for part in rest)])


def anonymous_audience() -> str:
    """The audience of a request without staff credentials, read per request."""
    return settings.MEMBER_DETAILS


def rows_for(rows: list[dict], audience: str) -> list[dict]:
    if audience == FULL:
        return rows
    public = []
    for row in rows:
        row = {**row, "member_id": None}
        row["member_name"] = mask_name(row["member_name"]) if audience == MASKED else None
        public.append(row)
    return public
