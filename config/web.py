"""The web command: WEB_CONCURRENCY daphne processes sharing one listening socket.

The socket is bound here and inherited by every daphne (`--fd`), so the kernel hands each new
connection to whichever process accepts first; one process per core uses every core, where
one daphne is one Python thread serving everything. A process that dies is started again;
SIGTERM/SIGINT stop them all. WEB_CONCURRENCY=0 means one process per core.

Each process is `python -m config.daphne` (daphne on uvloop unless WEB_EVENT_LOOP=asyncio).
Daphne's per-request access log is off unless WEB_ACCESS_LOG=true (a reverse proxy in front
usually keeps one): formatting and writing it cost a tenth of a cached read (BENCHMARKS.md).

    python -m config.web --bind 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int

APPLICATION = "config.asgi:application"
# A process that keeps dying is restarted at most this often.
RESTART_PAUSE_SECONDS = 1.0


def process_count() -> int:
    count = env_int("WEB_CONCURRENCY", 1, minimum=0)
    return count or os.cpu_count() or 1


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host.strip("[]"), port))
    server.listen(1024)
    server.set_inheritable(True)
    return server


def daphne_options(extra: list[str]) -> list[str]:
    """Daphne's options: the access log as WEB_ACCESS_LOG says, unless the command line
    already chose (`-v N`, `--access-log PATH`)."""
    chosen = any(arg.split("=")[0] in ("-v", "--verbosity", "--access-log") for arg in extra)
    if chosen:
        return extra
    return (
        ["--access-log", "-", *extra] if env_bool("WEB_ACCESS_LOG", False) else ["-v", "0", *extra]
    )


def daphne(server: socket.socket, options: list[str], loop: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "config.daphne",
               "--fd", str(server.fileno()), *options, APPLICATION]  # fmt: skip
    env = {**os.environ, "WEB_EVENT_LOOP": loop}
    return subprocess.Popen(command, pass_fds=(server.fileno(),), env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, extra = parser.parse_known_args(argv)  # the rest goes to daphne (-v, --access-log)
    try:
        options = daphne_options(extra)
        loop = env_choice("WEB_EVENT_LOOP", "uvloop", ("uvloop", "asyncio"))
        count = process_count()
    except ImproperlyConfigured as error:
        print(f"web: {error}", file=sys.stderr, flush=True)
        return 2
    server = listen(args.bind, args.port)
    children = [daphne(server, options, loop) for _ in range(count)]
    print(f"web: {count} daphne process(es) on {args.bind}:{args.port}", flush=True)
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for index, child in enumerate(children):
            if child.poll() is not None and not stopping:
                print(f"web: daphne {child.pid} exited ({child.returncode}); starting another",
                      file=sys.stderr, flush=True)  # fmt: skip
                time.sleep(RESTART_PAUSE_SECONDS)
                children[index] = daphne(server, options, loop)
        time.sleep(0.2)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
