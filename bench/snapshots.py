"""The daily snapshot refresh (bench/snapshot_refresh.py), then one snapshot endpoint under load
(bench/snapshot_endpoint.py), on one set-up.

    python -m bench.snapshots [--skip-refresh] [--skip-http]   (--help lists the rest)

Takes both scripts' flags. Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse

from bench import snapshot_endpoint, snapshot_refresh
from bench.harness import wrk
from bench.harness.environment import start_django
from bench.harness.machine import describe, machine, wrk_version
from bench.harness.mariadb import version
from bench.harness.services import signals_end_the_run


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.snapshots",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    snapshot_refresh.add_service_arguments(parser)
    snapshot_refresh.add_arguments(parser)
    snapshot_endpoint.add_arguments(parser)
    parser.add_argument("--skip-refresh", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    signals_end_the_run()
    if not args.skip_http:
        wrk.require()
    start_django(snapshot_refresh.environment(args, args.port))
    from django.db import connections
    from django.utils import timezone

    today = args.today or timezone.localdate()
    info = {**machine(), "mariadb": version(connections["library"]), "wrk": wrk_version()}
    refresh = None if args.skip_refresh else snapshot_refresh.run(args.runs, today)
    connections.close_all()
    http = None if args.skip_http else snapshot_endpoint.run(args)

    print(describe(info))
    print(f"Library database: `{args.database_url}`; Redis `{args.redis_url}`.")
    if refresh is not None:
        print()
        source = "--today" if args.today else "the library's local date"
        print(snapshot_refresh.report(refresh, args.runs, today, source))
    if http is not None:
        print()
        print(snapshot_endpoint.report(http, args.port))


if __name__ == "__main__":
    main()
