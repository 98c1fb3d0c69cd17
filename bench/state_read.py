"""What reading a library's live rollup generation costs: rollups.engine.live_state (its read
built once) against the ORM building the same read each time, alternating in one process, on
libraries of a network bench.network built. A tick reads it once a library; a library's
nightly jobs a few dozen times.

  .venv/bin/python -m bench.state_read --work <bench.network's --work> --prefix tiny
"""

from __future__ import annotations

import time

from bench.harness.in_process import alternate, arguments, set_up


def main() -> None:
    args = arguments(__doc__)
    set_up(args)
    from config.library import all_libraries, serving
    from metrics_cache.rollups import engine
    from metrics_cache.rollups.models import RollupState

    libraries = all_libraries()[: args.sample]

    def orm(source: str):
        return RollupState.objects.filter(source=source, live=True).first()

    def one_round(read) -> float:
        """Milliseconds a read (both sources of each library, its file already open)."""
        reads = 0
        started = time.perf_counter()
        for library in libraries:
            with serving(library):
                for source in ("visits", "loans"):
                    read(source)
                    reads += 1
        return (time.perf_counter() - started) / reads * 1000

    for library in libraries:  # every file opened once: the reads alone are measured
        with serving(library):
            orm("visits")
    alternate(args, "bench.state_read", "the live generation's read", {
        "engine.live_state": lambda: one_round(engine.live_state),
        "the ORM's read each time": lambda: one_round(orm),
    })  # fmt: skip


if __name__ == "__main__":
    main()
