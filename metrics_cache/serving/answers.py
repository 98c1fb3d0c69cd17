"""The headers and bodies of cached answers, shared by the DRF views and the fast path (edge)
so that a response never depends on which of them answered."""

from __future__ import annotations

import json

from django.utils.http import parse_etags

from metrics_cache.snapshots.store import Stored

# Header names, which HTTP compares in any case.
RETRY_AFTER = "Retry-After"  # pragma: no mutate
CACHE_CONTROL_HEADER = "Cache-Control"  # pragma: no mutate

CACHE_CONTROL = "public, max-age=60"
PRIVATE_CACHE = "private, max-age=60"
# Answers differ by credentials (member details), never by anything else in the request.
VARY = "Cookie, Authorization"
SUMMARY_HEADERS = {"Vary": VARY, "Cache-Control": "no-cache"}
TODAY_HEADERS = {"Cache-Control": "no-store"}


def snapshot_headers(stored: Stored, *, staff: bool) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": stored.last_modified,
        "Cache-Control": PRIVATE_CACHE if staff else CACHE_CONTROL,
        "Vary": VARY,
    }


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match as RFC 9110 (13.1.2) has it: `*`, or a list of tags compared weakly."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    return tags == ["*"] or (
        etag.removeprefix("W/")  # pragma: no mutate (ours are strong: "hex", never W/)
        in {t.removeprefix("W/") for t in tags}
    )


def today_body(value: dict, source: str) -> bytes:
    """/api/visitors/today's body, as JsonResponse would encode it."""
    return json.dumps({**value, "source": source}).encode()
