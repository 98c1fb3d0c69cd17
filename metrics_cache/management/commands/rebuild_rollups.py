"""manage.py rebuild_rollups: the weekly drift check, now (or the first build, to its end)."""

from __future__ import annotations

from metrics_cache.management.libraries import LibraryCommand
from metrics_cache.rollups import engine, jobs, verification
from metrics_cache.rollups.sources import sources


class Command(LibraryCommand):
    help = (
        "Recompute the rollups of SLiMS's tables side by side in short chunks, swap them in and "
        "report what differed. Runs the first build to its end where it is not over."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--source", choices=sorted(sources()), action="append")

    def handle_library(self, *args, **options) -> None:
        for name in options["source"] or list(sources()):
            state = engine.live_state(name)
            if state is None or state.built_at is None:
                while not jobs.build_step():
                    pass
                state = engine.live_state(name)
                self.stdout.write(
                    f"{name}: first build done, {state.rows_folded} rows up to id {state.last_id}"
                )
                continue
            record = verification.verify(name)
            self.stdout.write(
                f"{name}: recomputed {record.rows_scanned} rows up to id {record.watermark}; "
                f"{record.days_differing} days and {record.tallies_differing} tallies differed "
                f"({record.total_before} → {record.total_after} rows counted)"
            )
