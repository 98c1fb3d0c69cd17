"""Today's visitor count: the fast loop's three modes, its state in Redis, and publishing.

direct       counts today's rows by date range on every tick (a full scan on stock SLiMS).
delta        folds the rows above the visit rollups' watermark (the rows added since the
             last tick, whatever their dates) and reads today's rollup. Until the rollups'
             first build is over: an exact baseline once a day (a scan), then each tick
             counts only rows above the highest id it saw.
incremental  a Redis counter raised by check-in kiosks, set to an exact count periodically.

Every mode keys its state by the local date, so the count restarts at local midnight.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_redis import get_redis_connection

from config.library import LIBRARY_ALIAS
from metrics_cache import keys, rollups
from visitors import rollups as visit_rollups
from visitors.selectors import visits_on, visits_today_after, visits_today_exact

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Count:
    total: int
    baseline_id: int | None = None
    baseline_count: int | None = None


def redis():
    return get_redis_connection("default")


# --- the modes ----------------------------------------------------------------------------------
def _exact_baseline(today: date) -> dict:
    count, first_id, last_id = visits_today_exact(today=today)
    return {
        "date": today.isoformat(),
        "last_id": last_id or 0,
        "count": count,
        "baseline_id": first_id or 0,
        "baseline_count": count,
    }


def _save_delta(state: dict) -> None:
    redis().hset(keys.today_delta_state(), mapping=state)


def count_direct(today: date) -> Count:
    return Count(visits_on(day=today))


# A tick folds new rows for at most this long; rows left over (a large import just landed) are
# counted for today by primary-key windows and folded by the next ticks.
TICK_FOLD_SECONDS = 2.0
# Ids per statement when counting rows that are not folded yet.
UNFOLDED_WINDOW_IDS = 100_000


def _visit_rollups() -> rollups.RollupState | None:
    state = rollups.live_state(visit_rollups.SOURCE_NAME)
    return state if state is not None and state.built_at is not None else None


def count_from_rollups(today: date, state: rollups.RollupState) -> Count:
    """Today's rollup after folding the new rows, plus any rows dated today still above the
    watermark: exact whatever the rows' id order."""
    result = rollups.fold(visit_rollups.SOURCE, state, budget_seconds=TICK_FOLD_SECONDS)
    total = visit_rollups.visits_on(today)
    if not result.caught_up:
        top = rollups.highest_id(visit_rollups.SOURCE)
        for start in range(state.last_id, top, UNFOLDED_WINDOW_IDS):
            total += visit_rollups.visits_dated_between_ids(
                after_id=start, upto_id=min(start + UNFOLDED_WINDOW_IDS, top), day=today
            )
    return Count(total, state.last_id, None)


def exact_today(today: date) -> int:
    """Today's exact count: from the rollups once built, else a scan."""
    state = _visit_rollups()
    if state is not None:
        return count_from_rollups(today, state).total
    return visits_today_exact(today=today)[0]


def count_delta(today: date) -> Count:
    state = _visit_rollups()
    if state is not None:
        return count_from_rollups(today, state)
    raw = {k.decode(): v.decode() for k, v in redis().hgetall(keys.today_delta_state()).items()}
    if raw.get("date") != today.isoformat():
        state = _exact_baseline(today)  # the first tick of the day (or after a flush)
    else:
        state = {**raw, "count": int(raw["count"]), "last_id": int(raw["last_id"])}
        added, last_id = visits_today_after(today=today, after_id=state["last_id"])
        state["count"] += added
        state["last_id"] = last_id
    _save_delta(state)
    return Count(int(state["count"]), int(state["baseline_id"]), int(state["baseline_count"]))


def count_incremental(today: date) -> Count:
    value = redis().get(keys.today_counter(today))
    if value is None:
        return reconcile_incremental(today)
    return Count(int(value))


def reconcile_incremental(today: date) -> Count:
    """Sets the kiosks' counter to the exact count, keeping increments made while counting."""
    key = keys.today_counter(today)
    before = int(redis().get(key) or 0)
    exact = exact_today(today)
    client = redis()
    pipe = client.pipeline()
    pipe.incrby(key, exact - before)
    pipe.expire(key, 2 * 86400)
    total, _ = pipe.execute()
    return Count(int(total), baseline_count=exact)


MODES = {"direct": count_direct, "delta": count_delta, "incremental": count_incremental}


def reconcile(today: date) -> Count:
    """The periodic exact recount, off the hot path: resets the mode's state to the truth."""
    if settings.TODAY_COUNT_MODE == "incremental":
        return reconcile_incremental(today)
    if settings.TODAY_COUNT_MODE == "delta":
        rolled = _visit_rollups()
        if rolled is not None:
            return recount_rollup(today, rolled)
        state = _exact_baseline(today)
        _save_delta(state)
        return Count(state["count"], state["baseline_id"], state["baseline_count"])
    return count_direct(today)


def recount_rollup(today: date, state: rollups.RollupState) -> Count:
    """Today's rollup checked against SLiMS over its rows' id range (rows deleted or re-dated
    since they were folded), then the count as a tick makes it."""
    corrected = visit_rollups.recount_day(state, today)
    if corrected is not None and corrected[0] != corrected[1]:
        logger.warning(
            "today's count corrected by the exact recount: %d -> %d (rows deleted or re-dated)",
            *corrected,
        )
    state.refresh_from_db()
    return count_from_rollups(today, state)


def reset_to_exact(today: date) -> Count:
    """recount_today: the exact figure now, and the mode's state restarted from it."""
    if settings.TODAY_COUNT_MODE == "incremental":
        exact = exact_today(today)
        redis().set(keys.today_counter(today), exact, ex=2 * 86400)
        return Count(exact, baseline_count=exact)
    return reconcile(today) if settings.TODAY_COUNT_MODE == "delta" else count_direct(today)


# --- publishing ---------------------------------------------------------------------------------
def published() -> dict | None:
    """The count the fast loop last published, if it is today's."""
    raw = redis().get(keys.today_count())
    if raw is None:
        return None
    value = json.loads(raw)
    return value if value.get("date") == timezone.localdate().isoformat() else None


def publish(total: int, today: date, *, ttl: int | None = None, force: bool = False) -> bool:
    """Stores the count and tells every web process, if it changed (or the day did)."""
    client = redis()
    previous = client.get(keys.today_count())
    generated_at = timezone.localtime().isoformat(timespec="milliseconds")
    value = {"total": total, "date": today.isoformat(), "generated_at": generated_at}
    changed = (
        force
        or previous is None
        or ((old := json.loads(previous))["total"] != total or old["date"] != value["date"])
    )
    client.set(keys.today_count(), json.dumps(value), ex=ttl or keys.today_count_ttl_seconds())
    if changed:
        event = json.dumps({"total": total, "generated_at": generated_at})
        client.publish(keys.today_events_channel(), event)
    return changed


# --- one tick of the fast loop ------------------------------------------------------------------
def tick() -> str:
    """Runs one tick unless another is running, the buffer is not over, or the database is in
    backoff after errors. Returns what happened; never raises for a database error."""
    client = redis()
    if client.exists(keys.today_cooldown(), keys.today_backoff()):
        return "waiting"
    lock = client.lock(keys.today_lock(), timeout=keys.TODAY_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return "busy"
    try:
        return _run(lambda today: MODES[settings.TODAY_COUNT_MODE](today))
    finally:
        lock.release()


def reconcile_tick() -> str:
    client = redis()
    if settings.TODAY_COUNT_MODE == "direct" or client.exists(keys.today_backoff()):
        return "skipped"
    lock = client.lock(keys.today_lock(), timeout=keys.TODAY_LOCK_SECONDS, blocking=True,
                       blocking_timeout=5)  # fmt: skip
    if not lock.acquire():
        return "busy"
    try:
        return _run(reconcile)
    finally:
        lock.release()


def _run(count) -> str:
    client = redis()
    today = timezone.localdate()
    started = time.perf_counter()
    try:
        result = count(today)
    except Exception as exc:  # the database is down or refusing: back off, never crash
        _on_error(client, exc)
        return "error"
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    publish(result.total, today)
    status = {
        "mode": settings.TODAY_COUNT_MODE,
        "last_run_at": timezone.now().isoformat(),
        "last_success_at": timezone.now().isoformat(),
        "last_duration_ms": duration_ms,
        "baseline_id": "" if result.baseline_id is None else result.baseline_id,
        "baseline_count": "" if result.baseline_count is None else result.baseline_count,
        "error": "",
        "failures": 0,
    }
    previous_error = client.hget(keys.today_loop_status(), "error")
    client.hset(keys.today_loop_status(), mapping=status)
    if previous_error:
        logger.warning("fast loop recovered: today=%d", result.total)
    if settings.VISITOR_SYNC_BUFFER_MS:
        client.set(keys.today_cooldown(), 1, px=settings.VISITOR_SYNC_BUFFER_MS)
    return "ok"


def _on_error(client, exc: Exception) -> None:
    connections[LIBRARY_ALIAS].close()  # a broken connection is not reused on the next tick
    error = f"{type(exc).__name__}: {exc}"[:300]
    status_key = keys.today_loop_status()
    failures = client.hincrby(status_key, "failures", 1)
    previous = client.hget(status_key, "error")
    client.hset(status_key, mapping={"error": error, "last_run_at": timezone.now().isoformat(),
                                     "mode": settings.TODAY_COUNT_MODE})  # fmt: skip
    if not previous or previous.decode() != error:
        logger.warning("fast loop failing, backing off: %s", error)  # once per state change
    backoff = min(
        keys.TODAY_BACKOFF_MAX_SECONDS, keys.TODAY_BACKOFF_FIRST_SECONDS * 2 ** (failures - 1)
    )
    client.set(keys.today_backoff(), 1, ex=int(backoff))


def loop_status() -> dict:
    raw = {k.decode(): v.decode() for k, v in redis().hgetall(keys.today_loop_status()).items()}
    baseline = None
    if raw.get("baseline_id") or raw.get("baseline_count"):
        baseline = {
            "id": int(raw["baseline_id"]) if raw.get("baseline_id") else None,
            "count": int(raw["baseline_count"]) if raw.get("baseline_count") else None,
        }
    return {
        "mode": settings.TODAY_COUNT_MODE,
        "last_run_at": raw.get("last_run_at"),
        "last_success_at": raw.get("last_success_at"),
        "last_duration_ms": float(raw["last_duration_ms"]) if raw.get("last_duration_ms") else None,
        "baseline": baseline,
        "error": raw.get("error") or None,
    }
