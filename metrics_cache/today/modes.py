"""The count modes: how the fast loop finds today's visitor count. One class per mode; the
configured one is chosen in one place, `configured()`, from TODAY_COUNT_MODE.

direct       counts today's rows by date range on every tick (a full scan on stock SLiMS).
delta        folds the rows above the visit rollups' watermark (the rows added since the
             last tick, whatever their dates) and reads today's rollup. Until the rollups'
             first build is over: an exact baseline once a day (a scan), then each tick
             counts only rows above the highest id it saw.
incremental  a Redis counter raised by check-in kiosks, set to an exact count periodically.

Every mode keys its state by the local date, so the count restarts at local midnight. Adding
a mode is a class here and its name in the setting's list (config/settings.py).
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.checks import CheckMessage, Warning

from config import library
from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.today import counter, counting, probe
from metrics_cache.today.counting import Count
from metrics_cache.today.lock import loop_lock
from metrics_cache.today.publishing import publish
from visitors.selectors import visits_on, visits_today_after, visits_today_exact


class Mode:
    name: str
    # The ticks count exactly from the database: their figure may lower the published one.
    exact_ticks = False
    # The periodic exact recount (TODAY_RECONCILE_SECONDS) runs beside the ticks.
    reconciles = True
    # Check-in kiosks may raise the count (POST /api/visitors/today/increment).
    accepts_increments = False
    # Its ticks in a group take the highest visitor_id the group probed (today.probe).
    probed = False

    def tick(self, today: date) -> Count:
        """One tick of the fast loop: today's count, cheaply."""
        raise NotImplementedError

    def reconcile(self, today: date) -> Count:
        """The exact recount, off the hot path: resets the mode's state to the truth (also
        manage.py recount_today's figure)."""
        raise NotImplementedError

    def counter_key(self, today: date) -> str | None:
        """A Redis counter that publishing reads instead of the given total, if any."""
        return None

    def problems(self) -> list[CheckMessage]:
        """What is wrong in the configuration for this mode (system checks)."""
        return []


class Direct(Mode):
    name = "direct"
    exact_ticks = True
    reconciles = False  # every tick is exact already

    def tick(self, today: date) -> Count:
        return Count(visits_on(day=today))

    reconcile = tick


class Delta(Mode):
    name = "delta"
    probed = True

    def tick(self, today: date) -> Count:
        unchanged = counting.unchanged(probe.known_highest())
        if unchanged is not None:
            return unchanged
        state = counting.visit_rollups_state()
        if state is not None:
            return counting.count_from_rollups(today, state)
        raw = {
            k.decode(): v.decode() for k, v in client().hgetall(keys.today_delta_state()).items()
        }
        if raw.get("date") != today.isoformat():
            saved = self._exact_baseline(today)  # the first tick of the day (or after a flush)
        else:
            saved = {
                **raw,
                "count": int(raw["count"]),
                # Under another name, raw's string stays: the same id to the query, replaced
                # right after it.
                "last_id": int(raw["last_id"]),  # pragma: no mutate
            }
            added, last_id = visits_today_after(today=today, after_id=saved["last_id"])
            saved["count"] += added
            saved["last_id"] = last_id
        client().hset(keys.today_delta_state(), mapping=saved)
        return Count(int(saved["count"]), int(saved["baseline_id"]), int(saved["baseline_count"]))

    def reconcile(self, today: date) -> Count:
        state = counting.visit_rollups_state()
        if state is not None:
            return counting.recount_rollup(today, state)
        saved = self._exact_baseline(today)
        client().hset(keys.today_delta_state(), mapping=saved)
        return Count(saved["count"], saved["baseline_id"], saved["baseline_count"])

    @staticmethod
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


class Incremental(Mode):
    name = "incremental"
    accepts_increments = True

    def tick(self, today: date) -> Count:
        value = client().get(keys.today_counter(today))
        if value is None:  # a new day or a flushed Redis: rebuild from the exact count first
            return self.reconcile(today)
        return Count(int(value))

    def reconcile(self, today: date) -> Count:
        """Sets the kiosks' counter to the exact count, keeping increments made while counting.
        Runs under the loop's lock, so it is the only writer besides the kiosks' INCRBY."""
        key = keys.today_counter(today)
        before = client().get(key)
        exact = counting.exact_today(today)
        return Count(int(counter.apply_exact(key, exact, before)), baseline_count=exact)

    def counter_key(self, today: date) -> str | None:
        return keys.today_counter(today)

    def increment(self, today: date, by: int) -> int:
        """A kiosk's check-ins: raises the counter and publishes it. A missing counter (a new
        day, a flushed Redis) is first rebuilt from the exact count, once, under the loop's
        lock: raising it from 0 would show 1 on every screen until the next recount."""
        key = keys.today_counter(today)
        total = counter.increment_existing(key, by)
        if total is None:
            with loop_lock():
                total = counter.increment_existing(key, by)
                if total is None:
                    self.reconcile(today)
                    total = counter.increment_existing(key, by)
        # With or without the counter key the figure published is the same: `total` is the
        # counter just raised, and publishing never lowers today's figure.
        publish(int(total), today, counter=key)  # pragma: no mutate
        return int(total)

    def problems(self) -> list[CheckMessage]:
        if settings.TODAY_INCREMENT_TOKEN:
            return []
        return [
            Warning(
                "TODAY_COUNT_MODE=incremental but TODAY_INCREMENT_TOKEN is unset: kiosks "
                "cannot report check-ins, so the count changes only at each exact recount.",
                hint="Set TODAY_INCREMENT_TOKEN to a long random string shared with the kiosks.",
                id="libdash.W001",
            )
        ]


MODES: dict[str, Mode] = {mode.name: mode for mode in (Direct(), Delta(), Incremental())}


def configured() -> Mode:
    """The current library's mode: its count_mode, else TODAY_COUNT_MODE (read on each call:
    a changed setting applies at once)."""
    return MODES[library.count_mode()]
