"""One daphne process, as config.web starts them: `python -m config.daphne [daphne's arguments]`.

Daphne runs Twisted on an asyncio event loop that it creates when `daphne.server` is first
imported; choosing uvloop's policy before that import puts that loop, and with it every
socket, timer and task of the web process, on libuv (BENCHMARKS.md: "the event loop").
WEB_EVENT_LOOP=asyncio keeps the standard library's loop.

Once the application is loaded and the server runs, the garbage collector is tuned for a
process that serves many small requests (see `tune_collector`).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys


def install_loop(name: str) -> str:
    """Selects the event loop policy daphne's loop will come from; returns the one in use."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    if name != "asyncio":
        raise SystemExit(f"WEB_EVENT_LOOP must be uvloop or asyncio, not {name!r}")
    return "asyncio"


def tune_collector() -> None:
    """Everything loaded by now (Django, the apps, their modules) lives as long as the process:
    frozen, out of the collector's reach, a full collection no longer walks it. A cached read
    allocates a few hundred short-lived objects; collecting the youngest generation every
    50,000 allocations instead of every 700 makes requests wait for the collector less often.
    Measured under wrk (BENCHMARKS.md, "garbage collection"): the freeze took the p99 of cached
    reads from 179 to 99 ms; the threshold, 100 to 77 ms with 7 % more requests per second."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def name_every_status() -> None:
    """Daphne takes a status line's reason phrase from Twisted's table, which lacks some the
    service answers with (429 when a client is throttled: `429 Unknown Status`); the standard
    library's names fill the gaps."""
    from http import HTTPStatus

    from twisted.web import http

    for status in HTTPStatus:
        http.RESPONSES.setdefault(status.value, status.phrase.encode())


def main() -> None:
    install_loop(os.environ.get("WEB_EVENT_LOOP", "uvloop").strip().lower())
    import daphne.server  # creates the loop daphne runs
    from daphne.cli import CommandLineInterface

    name_every_status()

    # The first callback of the running loop: after the application was imported.
    daphne.server.twisted_loop.call_soon(tune_collector)
    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
