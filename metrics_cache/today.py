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
from contextlib import contextmanager
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
    """Today's exact count and the highest visitor_id it covers: the ticks count the rows
    dated today above that id (the contract's baseline, reported by /health)."""
    count, _, last_id = visits_today_exact(today=today)
    return {
        "date": today.isoformat(),
        "last_id": last_id or 0,
        "count": count,
        "baseline_id": last_id or 0,
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


def _unfolded(today: date, after_id: int) -> int:
    """Rows dated `today` above the watermark `after_id`, by primary-key windows."""
    top = rollups.highest_id(visit_rollups.SOURCE)
    return sum(
        visit_rollups.visits_dated_between_ids(
            after_id=start, upto_id=min(start + UNFOLDED_WINDOW_IDS, top), day=today
        )
        for start in range(after_id, top, UNFOLDED_WINDOW_IDS)
    )


def count_from_rollups(today: date, state: rollups.RollupState) -> Count:
    """Today's rollup after folding the new rows, plus any rows dated today still above the
    watermark: exact whatever the rows' id order."""
    result = rollups.fold(visit_rollups.SOURCE, state, budget_seconds=TICK_FOLD_SECONDS)
    total = visit_rollups.visits_on(today)
    if not result.caught_up:
        total += _unfolded(today, state.last_id)
    return Count(total, state.last_id, None)


def exact_today(today: date) -> int:
    """Today's exact count: from the rollups once built, else a scan."""
    state = _visit_rollups()
    if state is not None:
        return count_from_rollups(today, state).total
    return visits_today_exact(today=today)[0]


# How often a read of today's rollup is tried again when a fold commits in the middle of it.
MISS_READ_ATTEMPTS = 3


def count_without_folding(today: date) -> int:
    """Today's exact count for an API request that found no cached figure. The request only
    reads: today's rollup and its watermark (the worker folds), then the rows dated today
    above that watermark by primary-key windows, so the library database sees a few short
    range reads instead of a scan of the table. A scan before the rollups are first built."""
    state = _visit_rollups()
    for _ in range(MISS_READ_ATTEMPTS):
        if state is None:
            break
        seen = (state.generation, state.last_id)
        folded = visit_rollups.visits_on(today, state.generation)
        state = _visit_rollups()
        # The watermark moves with the rollup rows in one transaction: unchanged around the
        # read, the rollup read is exactly the rows up to it.
        if state is not None and (state.generation, state.last_id) == seen:
            return folded + _unfolded(today, state.last_id)
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
    if value is None:  # a new day or a flushed Redis: rebuild from the exact count first
        return reconcile_incremental(today)
    return Count(int(value))


def reconcile_incremental(today: date) -> Count:
    """Sets the kiosks' counter to the exact count, keeping increments made while counting.
    Runs under the loop's lock, so it is the only writer besides the kiosks' INCRBY."""
    key = keys.today_counter(today)
    before = redis().get(key)
    exact = exact_today(today)
    total = _APPLY_EXACT(keys=[key], args=[exact, before or "", keys.TODAY_COUNTER_TTL_SECONDS])
    return Count(int(total), baseline_count=exact)


def increment(today: date, by: int) -> int:
    """A kiosk's check-ins: raises the counter and publishes it. A missing counter (a new day,
    a flushed Redis) is first rebuilt from the exact count, once, under the loop's lock:
    raising it from 0 would show 1 on every screen until the next recount."""
    key = keys.today_counter(today)
    total = _INCREMENT_EXISTING(keys=[key], args=[by, keys.TODAY_COUNTER_TTL_SECONDS])
    if total is None:
        with loop_lock():
            total = _INCREMENT_EXISTING(keys=[key], args=[by, keys.TODAY_COUNTER_TTL_SECONDS])
            if total is None:
                reconcile_incremental(today)
                total = _INCREMENT_EXISTING(keys=[key], args=[by, keys.TODAY_COUNTER_TTL_SECONDS])
    publish(int(total), today)
    return int(total)


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
        return reconcile_incremental(today)  # kiosks' increments made while counting are kept
    return reconcile(today) if settings.TODAY_COUNT_MODE == "delta" else count_direct(today)


def recount(today: date) -> tuple[dict | None, Count]:
    """manage.py recount_today: (what was published, the exact count), under the loop's lock
    so no tick or reconcile interleaves, then published as an exact figure (it may lower)."""
    with loop_lock():
        old = published()
        result = reset_to_exact(today)
        publish(result.total, today, force=True, exact=True)
    return old, result


# --- publishing ---------------------------------------------------------------------------------
def published() -> dict | None:
    """The count the fast loop last published, if it is today's."""
    raw = redis().get(keys.today_count())
    if raw is None:
        return None
    value = json.loads(raw)
    return value if value.get("date") == timezone.localdate().isoformat() else None


def publish(
    total: int, today: date, *, ttl: int | None = None, force: bool = False, exact: bool = False
) -> bool:
    """Stores the count and tells every web process, if it changed (or the day did).

    Atomic and monotonic within a day: a total lower than the stored one for the same date is
    not published (a tick that read the counter before a kiosk raised it) unless `exact` (a
    recount from the database), which logs the lowering; an earlier day's figure never
    replaces a later one's. In incremental mode the figure is the kiosks' counter as it
    stands when publishing, so a late publisher cannot go back."""
    counter = [keys.today_counter(today)] if settings.TODAY_COUNT_MODE == "incremental" else []
    generated_at = timezone.localtime().isoformat(timespec="milliseconds")
    changed, stored, old = _PUBLISH(
        keys=[keys.today_count(), *counter],
        args=[total, today.isoformat(), generated_at, ttl or keys.today_count_ttl_seconds(),
              int(force), int(exact), keys.today_events_channel()],
    )  # fmt: skip
    if exact and old >= 0 and stored < old:
        logger.warning("exact recount lowered today's count: %d → %d", old, stored)
    return bool(changed)


# KEYS: the published count, [the kiosks' counter]. ARGV: total, date, generated_at, ttl,
# force, exact, channel. Returns {changed, the total now stored, the previous total or -1}.
_PUBLISH_LUA = """
local total = tonumber(ARGV[1])
if KEYS[2] then
  local counter = redis.call('GET', KEYS[2])
  if counter then total = tonumber(counter) end
end
local old = -1
local previous = redis.call('GET', KEYS[1])
if previous then
  local ok, value = pcall(cjson.decode, previous)
  if ok and value['date'] == ARGV[2] then old = tonumber(value['total']) end
  -- a tick that started before midnight never replaces the new day's figure
  if ok and type(value['date']) == 'string' and value['date'] > ARGV[2] then
    return {0, -1, -1}
  end
end
if old >= 0 and total < old and ARGV[6] ~= '1' then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return {0, old, old}
end
local changed = ARGV[5] == '1' or old ~= total
redis.call('SET', KEYS[1], '{"total": ' .. total .. ', "date": "' .. ARGV[2]
  .. '", "generated_at": "' .. ARGV[3] .. '"}', 'EX', ARGV[4])
if changed then
  redis.call('PUBLISH', ARGV[7], '{"total": ' .. total .. ', "generated_at": "' .. ARGV[3] .. '"}')
end
return {changed and 1 or 0, total, old}
"""
# KEYS: the counter. ARGV: by, ttl. Nil when the counter is missing (never raised from 0).
_INCREMENT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return total
"""
# KEYS: the counter. ARGV: exact, the counter before counting ('' if missing), ttl.
_APPLY_EXACT_LUA = """
local total
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  total = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]))
else
  total = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], total)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return total
"""


def _script(source: str):
    def run(*, keys: list, args: list):
        return redis().eval(source, len(keys), *keys, *args)

    return run


_PUBLISH = _script(_PUBLISH_LUA)
_INCREMENT_EXISTING = _script(_INCREMENT_LUA)
_APPLY_EXACT = _script(_APPLY_EXACT_LUA)


class LoopBusy(RuntimeError):
    """The fast loop's lock stayed taken longer than a caller would wait."""


@contextmanager
def loop_lock(wait_seconds: float = keys.TODAY_LOCK_WAIT_SECONDS):
    """The fast loop's lock, waited for: ticks, reconciles and recounts never interleave."""
    lock = redis().lock(keys.today_lock(), timeout=keys.TODAY_LOCK_SECONDS, blocking=True,
                        blocking_timeout=wait_seconds)  # fmt: skip
    if not lock.acquire():
        raise LoopBusy("the fast loop's lock is taken")
    try:
        yield
    finally:
        lock.release()


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
    try:
        with loop_lock():
            return _run(reconcile, exact=True)
    except LoopBusy:
        return "busy"


def _run(count, *, exact: bool = False) -> str:
    client = redis()
    today = timezone.localdate()
    started = time.perf_counter()
    try:
        result = count(today)
    except Exception as exc:  # the database is down or refusing: back off, never crash
        _on_error(client, exc)
        return "error"
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    publish(result.total, today, exact=exact or settings.TODAY_COUNT_MODE == "direct")
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
