"""Snapshots in Redis, each audience's body ready to send, and the last good copy in the
service's own database. Serving is bytes in, bytes out: no re-serialising."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone
from django.utils.http import http_date

from config.library import library_fingerprint
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.snapshots import privacy
from metrics_cache.snapshots.models import SnapshotRecord
from metrics_cache.snapshots.registry import BY_NAME, Metric


@dataclass(frozen=True)
class Stored:
    body: bytes
    etag: str
    generated_at: datetime
    last_modified: str = ""  # the HTTP date of generated_at, prepared when stored


def fields(audience: str) -> tuple[str, str]:
    """The hash fields holding one audience's body and ETag (the fast path reads them too)."""
    return f"body:{audience}", f"etag:{audience}"


def read(metric: str, audience: str = privacy.FULL) -> Stored | None:
    body_field, etag_field = fields(audience)
    body, etag, generated, modified = client().hmget(
        keys.snapshot(metric), body_field, etag_field, "generated_at", "last_modified"
    )
    if body is None or generated is None:
        return None
    # Written with the body in one HSET: never missing beside it.
    last_modified = (modified or b"").decode()  # pragma: no mutate
    return Stored(body, etag.decode(), datetime.fromisoformat(generated.decode()), last_modified)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def variants(metric: Metric, full: bytes) -> dict[str, bytes]:
    """What each audience may see (full, masked, hidden), prepared once per stored snapshot so
    that answering a request never parses JSON."""
    if not metric.personal:
        return dict.fromkeys(privacy.AUDIENCES, full)
    snapshot = json.loads(full)
    bodies = {}
    for audience in privacy.AUDIENCES:
        shown = {**snapshot, "data": privacy.rows_for(snapshot["data"], audience)}
        bodies[audience] = json.dumps(
            shown,
            ensure_ascii=False,  # pragma: no mutate (\u escapes or not: the same JSON)
            separators=(",", ":"),
        ).encode()
    bodies[privacy.FULL] = full
    return bodies


def write(metric: Metric, full: bytes, generated_at: datetime) -> None:
    """Stores the envelope once per audience, with its ETag and Last-Modified ready to send."""
    mapping: dict[str, bytes | str] = {
        "generated_at": generated_at.isoformat(),
        "last_modified": http_date(generated_at.timestamp()),
    }
    for audience, body in variants(metric, full).items():
        body_field, etag_field = fields(audience)
        mapping[body_field] = body
        mapping[etag_field] = _etag(body)
    key = keys.snapshot(metric.name)
    pipe = client().pipeline()
    pipe.delete(key)
    pipe.hset(key, mapping=mapping)
    pipe.expire(key, keys.aggregate_ttl_seconds())
    pipe.execute()


def last_good(metric: Metric, today: date) -> SnapshotRecord | None:
    """The stored last good payload, if it still describes today's period."""
    # A payload is empty only before a metric's first good run, when generated_at is empty too
    # and rejected below (one record per metric).
    record = (
        SnapshotRecord.objects.filter(metric=metric.name, library=library_fingerprint())
        .exclude(payload="")  # pragma: no mutate
        .first()
    )
    if record is None or record.generated_at is None:
        return None
    age = (timezone.now() - record.generated_at).total_seconds()
    if timezone.localdate(record.generated_at) != today or age >= keys.aggregate_ttl_seconds():
        return None
    return record


def read_last_good(metric: Metric, audience: str = privacy.FULL) -> Stored | None:
    """While Redis is unreachable: the snapshot from the service's own database, so a Redis
    restart costs dashboards nothing. Never the library database. The audiences' bodies are
    the ones write would keep (prepared once per record and process, not per request)."""
    record = last_good(metric, timezone.localdate())
    if record is None:
        return None
    body, etag = _last_good_variants(metric.name, record.payload)[audience]
    generated_at = timezone.localtime(record.generated_at)
    return Stored(
        body,
        etag,
        generated_at,  # pragma: no mutate (nothing reads it here: the headers use last_modified)
        http_date(generated_at.timestamp()),
    )


@functools.lru_cache(maxsize=64)
def _last_good_variants(name: str, payload: str) -> dict[str, tuple[bytes, str]]:
    bodies = variants(BY_NAME[name], payload.encode())
    return {audience: (body, _etag(body)) for audience, body in bodies.items()}


def is_fresh(metric: Metric, today: date) -> bool:
    stored = read(metric.name)
    return stored is not None and timezone.localdate(stored.generated_at) == today
