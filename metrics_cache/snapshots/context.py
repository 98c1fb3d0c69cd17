"""One group run of the snapshots: rollups caught up once, a daily-visits scan shared."""

from __future__ import annotations

from datetime import date, timedelta

from metrics_cache.rollups import jobs
from visitors import rollups as visit_rollups
from visitors import selectors as visitors


class RunContext:
    """One group run. Once a source's rollups are built, the run first folds its new rows and
    computes every metric from the rollups (no scan of SLiMS); until then it scans SLiMS as the
    selectors do, sharing one scan of the daily visit totals between weekly, monthly and yearly
    (visitor_count has no index on checkin_date)."""

    def __init__(self, today: date):
        self.today = today
        self._daily: tuple[date, dict[date, int]] | None = None
        self._ready: dict[str, bool] = {}

    def from_rollups(self, source: str) -> bool:
        """Catches `source` up (once per run); True if its rollups can answer (built, and
        every row folded: after a huge import not yet folded, the run scans instead)."""
        if source not in self._ready:
            result = jobs.catch_up(source)
            self._ready[source] = result is not None and result.caught_up
        return self._ready[source]

    def daily_visits(self, since: date) -> dict[date, int]:
        until = self.today - timedelta(days=1)
        if self._daily is None or self._daily[0] > since:
            if self.from_rollups(visit_rollups.SOURCE_NAME):
                daily = visit_rollups.daily_visit_totals(since=since, until=until)
            else:
                daily = visitors.daily_visit_totals(since=since, until=until)
            self._daily = (since, daily)
        return self._daily[1]
