"""Computing, storing and serving snapshots. Serving is bytes in, bytes out: no re-serialising."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.db import close_old_connections
from django.utils import timezone
from django_redis import get_redis_connection

from metrics_cache import keys
from metrics_cache.models import SnapshotRecord
from metrics_cache.registry import METRICS, Metric, RunContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    body: bytes
    etag: str
    generated_at: datetime


@dataclass(frozen=True)
class RunResult:
    metric: str
    status: str  # ok | restored | fresh | failed
    rows: int | None = None
    duration_ms: int = 0
    error: str = ""


def redis():
    return get_redis_connection("default")


def read(metric: str) -> Stored | None:
    body, etag, generated = redis().hmget(keys.snapshot(metric), "body", "etag", "generated_at")
    if body is None:
        return None
    return Stored(body, etag.decode(), datetime.fromisoformat(generated.decode()))


def _store(metric: str, body: bytes, generated_at: datetime) -> None:
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    key = keys.snapshot(metric)
    pipe = redis().pipeline()
    pipe.hset(key, mapping={"body": body, "etag": etag, "generated_at": generated_at.isoformat()})
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
        _store(metric.name, body, generated_at)
    except Exception as exc:  # one failing metric never stops the others
        duration = int((time.perf_counter() - started) * 1000)
        error = f"{type(exc).__name__}: {exc}"[:500]
        SnapshotRecord.objects.update_or_create(
            metric=metric.name,
            defaults={"status": "failed", "last_attempt_at": attempt, "last_error": error},
        )
        logger.warning("snapshot metric=%s rows=- ms=%d status=failed error=%r", metric.name,
                       duration, error)  # fmt: skip
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
        },
    )
    logger.info("snapshot metric=%s rows=%d ms=%d status=ok", metric.name, rows, duration)
    return RunResult(metric.name, "ok", rows, duration)


def restore(metric: Metric, today: date) -> bool:
    """Refills Redis from the last good payload if it still describes today's period."""
    record = SnapshotRecord.objects.filter(metric=metric.name).exclude(payload="").first()
    if record is None or record.generated_at is None:
        return False
    age = (timezone.now() - record.generated_at).total_seconds()
    if timezone.localdate(record.generated_at) != today or age >= keys.aggregate_ttl_seconds():
        return False
    _store(metric.name, record.payload.encode(), timezone.localtime(record.generated_at))
    logger.info("snapshot metric=%s status=restored from its last good payload", metric.name)
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
