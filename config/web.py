"""The web command: WEB_CONCURRENCY daphne processes sharing one listening socket.

The socket is bound here and inherited by every daphne (`--fd`), so the kernel hands each new
connection to whichever process accepts first; one process per core uses every core, where
one daphne is one Python thread serving everything. A process that dies is started again;
SIGTERM/SIGINT stop them all. WEB_CONCURRENCY=0 means one process per core.

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

from config.env import env_int

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


def daphne(server: socket.socket, extra: list[str]) -> subprocess.Popen:
    command = [os.path.join(os.path.dirname(sys.executable), "daphne"),
               "--fd", str(server.fileno()), *extra, APPLICATION]  # fmt: skip
    return subprocess.Popen(command, pass_fds=(server.fileno(),))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, extra = parser.parse_known_args(argv)  # the rest goes to daphne (-v, --access-log)
    server = listen(args.bind, args.port)
    count = process_count()
    children = [daphne(server, extra) for _ in range(count)]
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
                children[index] = daphne(server, extra)
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
