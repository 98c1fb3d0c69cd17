"""What opening a library connection costs a worker: a fast-loop tick's connection to one
library (connect, the one-index-entry probe for new rows, close), for the first --sample
libraries of a network bench.network built, in autocommit from the start (the service's
OPTIONS) against mysqlclient's default (autocommit off as it connects, Django turning it on),
alternating in one process.

  .venv/bin/python -m bench.library_connect --work <bench.network's --work> --prefix tiny
"""

from __future__ import annotations

import time

from bench.harness.in_process import alternate, arguments, set_up


def main() -> None:
    args = arguments(__doc__)
    set_up(args)
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

    one_round(True)  # warm
    alternate(args, "bench.library_connect", "a library's connection, probe and close", {
        "autocommit from the start": lambda: one_round(True),
        "mysqlclient's default": lambda: one_round(None),
    })  # fmt: skip


if __name__ == "__main__":
    main()
