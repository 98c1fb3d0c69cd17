"""The benchmark's own visits in the library database: inserted marked, deleted by id."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bench.harness.mariadb import connect
from bench.harness.report import log


class MarkedVisits:
    """Inserts visits marked with `marker` (as member_name and institution) and deletes exactly
    those, by visitor_id. Every id is journalled in `journal` first, so a run killed before its
    clean-up is cleaned up by the next one. MyISAM's AUTO_INCREMENT stays advanced."""

    def __init__(self, database_url: str, journal: Path, marker: str):
        self.connection = connect(database_url)
        self.journal, self.marker = journal, marker
        self.ids: list[int] = []
        if journal.exists():  # left by a run that was killed before its cleanup
            left = [int(line) for line in journal.read_text().split()]
            log(f"journal {journal}: deleting {len(left)} rows left by an earlier run")
            self.ids = left
            self.delete_all()

    def insert(self, checkin: datetime) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO visitor_count (member_id, member_name, institution, room_code, "
                "checkin_date) VALUES (NULL, %s, %s, NULL, %s)",
                (self.marker, self.marker, checkin.strftime("%Y-%m-%d %H:%M:%S")),
            )
            visitor_id = cursor.lastrowid
        self.ids.append(visitor_id)
        with open(self.journal, "a") as journal:
            journal.write(f"{visitor_id}\n")
        return visitor_id

    def delete_all(self) -> int:
        deleted = 0
        with self.connection.cursor() as cursor:
            for start in range(0, len(self.ids), 200):
                chunk = self.ids[start : start + 200]
                marks = ", ".join(["%s"] * len(chunk))
                deleted += cursor.execute(
                    f"DELETE FROM visitor_count WHERE visitor_id IN ({marks}) AND member_name = %s",
                    (*chunk, self.marker),
                )
        log(f"deleted {deleted} of {len(self.ids)} inserted visitor_count rows")
        self.ids = []
        self.journal.unlink(missing_ok=True)
        return deleted

    def close(self) -> None:
        if self.ids:
            self.delete_all()
        self.connection.close()
