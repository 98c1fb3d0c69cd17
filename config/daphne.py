"""One daphne process, as config.web starts them: `python -m config.daphne [daphne's arguments]`.

Daphne runs Twisted on an asyncio event loop that it creates when `daphne.server` is first
imported; choosing uvloop's policy before that import puts that loop, and with it every
socket, timer and task of the web process, on libuv (BENCHMARKS.md: "the event loop").
WEB_EVENT_LOOP=asyncio keeps the standard library's loop.
"""

from __future__ import annotations

import asyncio
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


def main() -> None:
    install_loop(os.environ.get("WEB_EVENT_LOOP", "uvloop").strip().lower())
    from daphne.cli import CommandLineInterface  # imports daphne.server: creates the loop

    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
