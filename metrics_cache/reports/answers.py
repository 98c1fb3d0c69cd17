"""A report's answer: from Redis when computed before for the same parameters and the same
state of the rollups it reads, else computed from the rollups (the service's database, never
SLiMS) and kept; "building" while the rollups' first build runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.utils import timezone
from redis.exceptions import RedisError

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.reports import annual, catalog, lookups
from metrics_cache.reports.compute import envelope
from metrics_cache.reports.params import AnnualQuery, Query
from metrics_cache.rollups import engine

# Answers as compact JSON with names in raw UTF-8.
COMPACT_UTF8 = {"ensure_ascii": False, "separators": (",", ":")}


@dataclass(frozen=True)
class Building:
    progress: float


@dataclass(frozen=True)
class Answer:
    json: bytes

    @property
    def body(self) -> dict:
        return json.loads(self.json)

    @property
    def etag(self) -> str:
        return hashlib.sha1(self.json).hexdigest()[:20]


def _answer(name: str, parameters: str, sources: tuple[str, ...],
            compute: Callable[[], dict]) -> Answer | Building:  # fmt: skip
    """`parameters` name everything the answer depends on but the rollups and the names."""
    states = [engine.live_state(source) for source in sources]
    unbuilt = [s for s in states if s is None or s.built_at is None]
    if unbuilt:
        return Building(min(s.progress if s is not None else 0.0 for s in unbuilt))
    # A closed day's figures change only with a new generation or a fold of late rows, its
    # names with a new copy of the lookups.
    rollups = ",".join(f"{s.generation}.{s.past_revision}" for s in states)  # pragma: no mutate
    key = keys.report(name, parameters, f"{rollups}:{lookups.revision()}")
    with contextlib.suppress(RedisError):
        cached = client().get(key)
        if cached is not None:
            return Answer(cached)
    raw = json.dumps(compute(), **COMPACT_UTF8).encode()
    with contextlib.suppress(RedisError):
        client().set(key, raw, ex=keys.REPORT_TTL_SECONDS)
    return Answer(raw)


def answer(query: Query) -> Answer | Building:
    """A report over a period of closed days (the default period already resolved)."""
    period = query.period
    return _answer(
        query.report.name,
        f"{query.by}:{period.since}:{period.until}:{int(query.compare)}",
        (query.report.source,),
        lambda: envelope(
            query.report, query.by, period, compare=query.compare, now=timezone.localtime()
        ),
    )


def annual_answer(query: AnnualQuery, today: date, sources: tuple[str, ...]) -> Answer | Building:
    # This year's figures run to yesterday: they move with today.
    return _answer(
        "annual",  # pragma: no mutate (its parameters alone set it apart from the others)
        f"{query.year}:{int(query.compare)}:{today}",
        sources,
        lambda: annual.envelope(query.year, today, compare=query.compare, now=timezone.localtime()),
    )


def circulation_answer() -> Answer | Building:
    """The circulation figures as of the last re-read of the open loans (not cached: a few
    counts over the open loans, in the service's database)."""
    body = catalog.circulation(timezone.localdate())
    if body is None:
        return Building(0.0)
    # Numbers and a time only: ASCII either way.
    return Answer(json.dumps(body, separators=(",", ":")).encode())
