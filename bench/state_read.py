"""What reading a library's live rollup generation costs: rollups.engine.live_state (its read
built once) against the ORM building the same read each time, alternating in one process, on
libraries of a network bench.network built. A tick reads it once a library; a library's
nightly jobs a few dozen times.

  .venv/bin/python -m bench.state_read --work <bench.network's --work> --prefix tiny
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.harness.report import log
from bench.worker_jobs import environment


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="bench.network's --work")
    parser.add_argument("--prefix", default="tiny")
    parser.add_argument("--libraries", type=int, default=500, help="as bench.network was run")
    parser.add_argument("--sample", type=int, default=25, help="libraries read a round")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of each, alternating")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    environment(args)
    import django

    django.setup()
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
    spent: dict[str, list[float]] = {"engine.live_state": [], "the ORM's read each time": []}
    for _ in range(args.rounds):
        spent["engine.live_state"].append(one_round(engine.live_state))
        spent["the ORM's read each time"].append(one_round(orm))
    lines = [
        "",
        f"Command: `.venv/bin/python -m bench.state_read --work <dir> --prefix {args.prefix} "
        f"--sample {args.sample} --rounds {args.rounds}`",
        "",
        "| the live generation's read | median | first quartile |",
        "|---|---:|---:|",
    ]
    for name, values in spent.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} ms "
                     f"| {statistics.quantiles(values, n=4)[0]:.3f} ms |")  # fmt: skip
    log("\n".join(lines))


if __name__ == "__main__":
    main()
