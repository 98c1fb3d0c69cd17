"""Today's live count: the fast loop's tick (bench/fast_loop.py), then SSE fan-out
(bench/sse_fanout.py), on one set-up.

    python -m bench.live [--skip-fast-loop] [--skip-sse]   (--help lists the rest)

Takes both scripts' flags. Redis: the cache database of --redis-url and the next one (Celery's
broker) are emptied at the start; when that server has too few databases for both, a private
redis-server is started on --own-redis-port and stopped at the end. The rows inserted into
visitor_count are marked, journalled in <data-dir>/live-inserted-ids.txt and deleted by
visitor_id at the end, even on error. Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse

from bench import fast_loop, sse_fanout
from bench.harness.live_service import add_arguments as add_service_arguments
from bench.harness.live_service import header, live_service
from bench.harness.report import command_line
from bench.harness.services import signals_end_the_run


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_arguments(parser)
    fast_loop.add_arguments(parser)
    sse_fanout.add_arguments(parser)
    parser.add_argument("--skip-fast-loop", action="store_true")
    parser.add_argument("--skip-sse", action="store_true")
    args = parser.parse_args()
    signals_end_the_run()
    sse_fanout.enough_descriptors(args.clients)
    fast = sse = None
    with live_service(args) as live:
        from django.db import connections

        if not args.skip_fast_loop:
            try:
                fast = fast_loop.run(args, live.visits)
            finally:
                live.visits.delete_all()
        connections.close_all()
        if not args.skip_sse:
            try:
                sse = sse_fanout.run(args, live.env, live.visits, live.data_dir)
            finally:
                live.visits.delete_all()
        print(header(live, args, command_line("bench.live")))
    if fast is not None:
        print()
        print(fast_loop.report(fast))
    if sse is not None:
        print()
        print(sse_fanout.report(sse, args))


if __name__ == "__main__":
    main()
