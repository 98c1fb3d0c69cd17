"""The demo library's live check-ins: visitors arrive during its opening hours, so the count
on `/` moves. Demo mode only (the embedded library seed_demo created), written through the
demo's own writer connection, never the service's read-only one."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db.backends.base.base import BaseDatabaseWrapper

from demo.generator import FIRST_NAMES, GUEST_INSTITUTIONS, HOUR_WEIGHT, LAST_NAMES, ROOMS
from demo.seeding import is_demo_library

logger = logging.getLogger(__name__)

# The demo library is open 07:00-20:00 local time (the seeded history's hours), every day.
OPENING_HOUR, CLOSING_HOUR = min(HOUR_WEIGHT), max(HOUR_WEIGHT) + 1
# Arrivals per minute at the busiest hour (a mid-sized university library's entrance); the
# other hours follow the seeded history's shape.
PEAK_ARRIVALS_PER_MINUTE = 2.0
# While open, no minute passes without a visitor: a newcomer sees the count move.
MAX_GAP_SECONDS = 60
# A service started mid-day fills the day's gap since the last visit, up to this many rows.
BACKFILL_LIMIT = 2000
# How often beat runs the check-ins (seconds).
INTERVAL_SECONDS = 15


def arrivals_per_minute(moment: datetime) -> float:
    return PEAK_ARRIVALS_PER_MINUTE * HOUR_WEIGHT.get(moment.hour, 0) / max(HOUR_WEIGHT.values())


def arrival_times(
    *, last: datetime | None, now: datetime, rng: random.Random, later_by: int = 0
) -> list[datetime]:
    """Check-in times after `last` up to `now` (naive local times), today's opening hours only
    (`later_by` hours later for a branch of the demo network): a Poisson process at the hour's
    rate, and at least one visitor a minute while open."""
    opening = now.replace(hour=OPENING_HOUR + later_by, minute=0, second=0, microsecond=0)
    closing = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        hours=CLOSING_HOUR + later_by
    )
    if not opening <= now < closing:
        return []
    start = max(last, opening) if last else opening
    times: list[datetime] = []
    moment = start
    while len(times) < BACKFILL_LIMIT:
        rate = arrivals_per_minute(moment - timedelta(hours=later_by))
        moment += timedelta(seconds=rng.expovariate(rate / 60))
        if moment > now:
            break
        times.append(moment.replace(microsecond=0))
    if not times and (now - start).total_seconds() >= MAX_GAP_SECONDS:
        times.append(now.replace(microsecond=0))
    return times


def record_arrivals(
    writer: BaseDatabaseWrapper,
    *,
    now: datetime,
    rng: random.Random | None = None,
    later_by: int = 0,
) -> int:
    """Writes the visits that arrived since the last one today; 0 in a database seed_demo did
    not create (its marker is missing), whatever the caller says."""
    if not is_demo_library(writer):
        return 0
    rng = rng or random.Random()
    last = _last_checkin_today(writer, now)
    times = arrival_times(last=last, now=now, rng=rng, later_by=later_by)
    if not times:
        return 0
    with writer.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM member")
        (members,) = cursor.fetchone()
    stamps = [time.strftime("%Y-%m-%d %H:%M:%S") for time in times]
    rows = [(*_visitor(writer, rng, members), stamp) for stamp in stamps]
    with writer.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
            "checkin_date) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
    logger.info("demo check-ins: %d", len(rows))
    return len(rows)


def _last_checkin_today(writer: BaseDatabaseWrapper, now: datetime) -> datetime | None:
    # A scan without an index on checkin_date: fine for the demo's size, every INTERVAL_SECONDS.
    day = now.strftime("%Y-%m-%d")
    with writer.cursor() as cursor:
        cursor.execute(
            "SELECT MAX(checkin_date) FROM visitor_count WHERE checkin_date >= %s",
            [f"{day} 00:00:00"],
        )
        (latest,) = cursor.fetchone()
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    return latest


def _visitor(writer: BaseDatabaseWrapper, rng: random.Random, members: int) -> tuple:
    """A member three times in four (from the member table), otherwise a guest."""
    room = rng.choice(ROOMS)
    if members and rng.random() < 0.75:
        with writer.cursor() as cursor:
            cursor.execute(
                "SELECT member_id, member_name, inst_name FROM member LIMIT 1 OFFSET %s",
                [rng.randrange(members)],
            )
            member_id, name, institution = cursor.fetchone()
        return member_id, name, institution, room
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return None, name, rng.choice(GUEST_INSTITUTIONS), room
