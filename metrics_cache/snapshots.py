"""Computing, storing and serving snapshots. Serving is bytes in, bytes out: no re-serialising."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_redis import get_redis_connection

from config.library import library_fingerprint
from metrics_cache import keys, privacy
from metrics_cache.models import SnapshotRecord
from metrics_cache.registry import METRICS, Metric, RunContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    body: bytes
    etag: str
    generated_at: datetime


# Audiences of a snapshot: the public one (member details per MEMBER_DETAILS) and staff.
PUBLIC, STAFF = "", "_staff"


def copy_name(audience: str) -> str:
    """Which stored copy an audience is served: staff's, or the public copy for the
    MEMBER_DETAILS in force now (a change applies to the next request, not the next snapshot)."""
    return STAFF if audience == STAFF else f"_{settings.MEMBER_DETAILS}"


@dataclass(frozen=True)
class RunResult:
    metric: str
    status: str  # ok | restored | fresh | failed
    rows: int | None = None
    duration_ms: int = 0
    error: str = ""


def redis():
    return get_redis_connection("default")


def read(metric: str, audience: str = PUBLIC) -> Stored | None:
    copy = copy_name(audience)
    body, etag, generated = redis().hmget(
        keys.snapshot(metric), f"body{copy}", f"etag{copy}", "generated_at"
    )
    if body is None:
        return None
    return Stored(body, etag.decode(), datetime.fromisoformat(generated.decode()))


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _store(metric: Metric, full: bytes, generated_at: datetime) -> None:
    """Stores the envelope for staff and, where it names members, one for the public per
    MEMBER_DETAILS mode."""
    fields = {f"body{STAFF}": full, f"etag{STAFF}": _etag(full)}
    for mode in privacy.MODES:
        public = _public_body(metric, full, mode)
        fields.update({f"body_{mode}": public, f"etag_{mode}": _etag(public)})
    key = keys.snapshot(metric.name)
    pipe = redis().pipeline()
    pipe.delete(key)
    pipe.hset(key, mapping={**fields, "generated_at": generated_at.isoformat()})
    pipe.expire(key, keys.aggregate_ttl_seconds())
    pipe.execute()


def _public_body(metric: Metric, full: bytes, mode: str | None = None) -> bytes:
    if not metric.personal:
        return full
    snapshot = json.loads(full)
    snapshot["data"] = privacy.public_rows(snapshot["data"], mode)
    return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()


def envelope(metric: Metric, data, generated_at: datetime, today: date) -> bytes:
    return json.dumps(
        {
            "generated_at": generated_at.isoformat(timespec="milliseconds"),
            "ttl_seconds": keys.aggregate_ttl_seconds(),
            "period": metric.period(today).as_json(),
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def compute(metric: Metric, ctx: RunContext) -> RunResult:
    """Runs one metric against the library database and stores it; never raises."""
    started = time.perf_counter()
    attempt = timezone.now()
    try:
        data = metric.compute(ctx, metric.period(ctx.today))
        generated_at = timezone.localtime()
        body = envelope(metric, data, generated_at, ctx.today)
        _store(metric, body, generated_at)
    except Exception as exc:  # one failing metric never stops the others
        duration = int((time.perf_counter() - started) * 1000)
        error = f"{type(exc).__name__}: {exc}"[:500]
        SnapshotRecord.objects.update_or_create(
            metric=metric.name,
            defaults={"status": "failed", "last_attempt_at": attempt, "last_error": error},
        )
        logger.warning(
            "snapshot metric=%s rows=- ms=%d status=failed error=%r", metric.name, duration, error,
            extra={"metric": metric.name, "ms": duration, "status": "failed", "error": error},
        )  # fmt: skip
        close_old_connections()
        return RunResult(metric.name, "failed", duration_ms=duration, error=error)
    duration = int((time.perf_counter() - started) * 1000)
    rows = len(data) if isinstance(data, list) else 1
    SnapshotRecord.objects.update_or_create(
        metric=metric.name,
        defaults={
            "status": "ok",
            "generated_at": generated_at,
            "duration_ms": duration,
            "rows": rows,
            "last_attempt_at": attempt,
            "last_error": "",
            "payload": body.decode(),
            "library": library_fingerprint(),
        },
    )
    logger.info(
        "snapshot metric=%s rows=%d ms=%d status=ok", metric.name, rows, duration,
        extra={"metric": metric.name, "rows": rows, "ms": duration, "status": "ok"},
    )  # fmt: skip
    return RunResult(metric.name, "ok", rows, duration)


def _last_good(metric: Metric, today: date) -> SnapshotRecord | None:
    """The stored last good payload, if it still describes today's period."""
    record = (
        SnapshotRecord.objects.filter(metric=metric.name, library=library_fingerprint())
        .exclude(payload="")
        .first()
    )
    if record is None or record.generated_at is None:
        return None
    age = (timezone.now() - record.generated_at).total_seconds()
    if timezone.localdate(record.generated_at) != today or age >= keys.aggregate_ttl_seconds():
        return None
    return record


def read_last_good(metric: Metric, audience: str = PUBLIC) -> Stored | None:
    """While Redis is unreachable: the snapshot from the service's own database, so a Redis
    restart costs dashboards nothing. Never the library database."""
    record = _last_good(metric, timezone.localdate())
    if record is None:
        return None
    full = record.payload.encode()
    body = full if audience == STAFF else _public_body(metric, full)
    return Stored(body, _etag(body), timezone.localtime(record.generated_at))


def restore(metric: Metric, today: date) -> bool:
    """Refills Redis from the last good payload if it still describes today's period."""
    record = _last_good(metric, today)
    if record is None:
        return False
    _store(metric, record.payload.encode(), timezone.localtime(record.generated_at))
    logger.info(
        "snapshot metric=%s status=restored from its last good payload", metric.name,
        extra={"metric": metric.name, "status": "restored"},
    )  # fmt: skip
    return True


def is_fresh(metric: Metric, today: date) -> bool:
    stored = read(metric.name)
    return stored is not None and timezone.localdate(stored.generated_at) == today


def refresh(names: list[str], *, force: bool) -> list[RunResult]:
    """Brings each metric up to date. Without `force`, a snapshot generated today is kept and
    a flushed one is restored from its record, so SLiMS is queried only when it must be."""
    today = timezone.localdate()
    ctx = RunContext(today)
    results = []
    for metric in METRICS:  # registry order: the widest visit range first
        if metric.name not in names:
            continue
        name = metric.name
        if not force and is_fresh(metric, today):
            results.append(RunResult(name, "fresh"))
        elif not force and restore(metric, today):
            results.append(RunResult(name, "restored"))
        else:
            results.append(compute(metric, ctx))
    return results
