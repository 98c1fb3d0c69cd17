"""Computing, storing and serving snapshots. Serving is bytes in, bytes out: no re-serialising."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.db import close_old_connections
from django.utils import timezone
from django.utils.http import http_date
from django_redis import get_redis_connection

from config.library import library_fingerprint
from metrics_cache import keys, privacy
from metrics_cache.models import SnapshotRecord
from metrics_cache.registry import BY_NAME, METRICS, Metric, RunContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    body: bytes
    etag: str
    generated_at: datetime
    last_modified: str = ""  # the HTTP date of generated_at, prepared when stored


@dataclass(frozen=True)
class RunResult:
    metric: str
    status: str  # ok | restored | fresh | failed
    rows: int | None = None
    duration_ms: int = 0
    error: str = ""


def redis():
    return get_redis_connection("default")


def fields(audience: str) -> tuple[str, str]:
    """The hash fields holding one audience's body and ETag (the fast path reads them too)."""
    return f"body:{audience}", f"etag:{audience}"


def read(metric: str, audience: str = privacy.FULL) -> Stored | None:
    body_field, etag_field = fields(audience)
    body, etag, generated, modified = redis().hmget(
        keys.snapshot(metric), body_field, etag_field, "generated_at", "last_modified"
    )
    if body is None or generated is None:
        return None
    return Stored(
        body, etag.decode(), datetime.fromisoformat(generated.decode()), (modified or b"").decode()
    )


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
        bodies[audience] = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode()
    bodies[privacy.FULL] = full
    return bodies


def _store(metric: Metric, full: bytes, generated_at: datetime) -> None:
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
    pipe = redis().pipeline()
    pipe.delete(key)
    pipe.hset(key, mapping=mapping)
    pipe.expire(key, keys.aggregate_ttl_seconds())
    pipe.execute()


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


def read_last_good(metric: Metric, audience: str = privacy.FULL) -> Stored | None:
    """While Redis is unreachable: the snapshot from the service's own database, so a Redis
    restart costs dashboards nothing. Never the library database. The audiences' bodies are
    the ones _store would keep (prepared once per record and process, not per request)."""
    record = _last_good(metric, timezone.localdate())
    if record is None:
        return None
    body, etag = _last_good_variants(metric.name, record.payload)[audience]
    generated_at = timezone.localtime(record.generated_at)
    return Stored(body, etag, generated_at, http_date(generated_at.timestamp()))


@functools.lru_cache(maxsize=64)
def _last_good_variants(name: str, payload: str) -> dict[str, tuple[bytes, str]]:
    bodies = variants(BY_NAME[name], payload.encode())
    return {audience: (body, _etag(body)) for audience, body in bodies.items()}


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
