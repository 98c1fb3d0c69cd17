"""Computing snapshots: each metric run against the library database (or its rollups), its
envelope stored, its record kept; a flushed snapshot restored from its last good copy."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from config.connections import close_old_connections
from config.library import library_fingerprint
from metrics_cache.base import keys
from metrics_cache.snapshots import store
from metrics_cache.snapshots.context import RunContext
from metrics_cache.snapshots.models import SnapshotRecord
from metrics_cache.snapshots.registry import METRICS, Metric

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    metric: str
    status: str  # ok | restored | fresh | failed
    rows: int | None = None
    duration_ms: int = 0
    error: str = ""


def envelope(metric: Metric, data, generated_at: datetime, today: date) -> bytes:
    return json.dumps(
        {
            "generated_at": generated_at.isoformat(timespec="milliseconds"),
            "ttl_seconds": keys.aggregate_ttl_seconds(),
            "period": metric.period(today).as_json(),
            "data": data,
        },
        ensure_ascii=False,  # pragma: no mutate (\u escapes or not: the same JSON)
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
        store.write(metric, body, generated_at)
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


def restore(metric: Metric, today: date) -> bool:
    """Refills Redis from the last good payload if it still describes today's period."""
    record = store.last_good(metric, today)
    if record is None:
        return False
    store.write(metric, record.payload.encode(), timezone.localtime(record.generated_at))
    logger.info(
        "snapshot metric=%s status=restored from its last good payload", metric.name,
        extra={"metric": metric.name, "status": "restored"},
    )  # fmt: skip
    return True


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
        if not force and store.is_fresh(metric, today):
            results.append(RunResult(name, "fresh"))
        elif not force and restore(metric, today):
            # Unread: the tasks ignore the results, and prewarm, their reader, forces.
            results.append(RunResult(name, "restored"))  # pragma: no mutate
        else:
            results.append(compute(metric, ctx))
    return results
