"""What opening a library connection costs a worker: a fast-loop tick's connection to one
library (connect, the one-index-entry probe for new rows, close), for the first --libraries
libraries of a network bench.network built, in autocommit from the start (the service's
OPTIONS) against mysqlclient's default (autocommit off as it connects, Django turning it on),
alternating in one process.

  .venv/bin/python -m bench.library_connect --work <bench.network's --work> --prefix tiny
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
    parser.add_argument("--sample", type=int, default=25, help="libraries opened a round")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of each, alternating")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    environment(args)
    import django

    django.setup()
    from django.db import connections

    from config.library import all_libraries, serving
    from metrics_cache.rollups import engine
    from visitors.rollups import SOURCE

    libraries = all_libraries()[: args.sample]

    def one_round(autocommit: bool | None) -> float:
        """Milliseconds a library: connect, probe, close."""
        started = time.perf_counter()
        for library in libraries:
            with serving(library):
                connection = connections[library.alias]
                options = connection.settings_dict["OPTIONS"]
                if autocommit is None:
                    options.pop("autocommit", None)  # mysqlclient's default
                else:
                    options["autocommit"] = autocommit
                engine.any_above(SOURCE, after=2**31 - 1, upto=None)  # none above
                connection.close()
        return (time.perf_counter() - started) / len(libraries) * 1000

    spent: dict[str, list[float]] = {"autocommit from the start": [], "mysqlclient's default": []}
    one_round(True)  # warm
    for _ in range(args.rounds):
        spent["autocommit from the start"].append(one_round(True))
        spent["mysqlclient's default"].append(one_round(None))
    lines = [
        "",
        f"Command: `.venv/bin/python -m bench.library_connect --work <dir> --prefix "
        f"{args.prefix} --sample {args.sample} --rounds {args.rounds}`",
        "",
        "| a library's connection, probe and close | median | first quartile |",
        "|---|---:|---:|",
    ]
    for name, values in spent.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} ms "
                     f"| {statistics.quantiles(values, n=4)[0]:.3f} ms |")  # fmt: skip
    log("\n".join(lines))


if __name__ == "__main__":
    main()
