"""The web command (config/web.py) and each daphne process it starts (config/daphne.py): one
port for WEB_CONCURRENCY processes, the event loop, the access log and the collector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_web_concurrency_processes_share_one_port(tmp_path):
    """config/web.py: WEB_CONCURRENCY daphne processes serve one port (an inherited socket)."""
    import signal
    import time

    from bench.harness.processes import child_pids, free_port, wait_for

    port = free_port()
    env = {**os.environ, "WEB_CONCURRENCY": "2", "THROTTLE_ANON_RATE": "100000/min"}
    log = (tmp_path / "web.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.web", "--port", str(port), "-v", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        children = wait_for(lambda: child_pids(launcher.pid), 60, "two daphne processes", 0.5)
        assert len(children) == 2
        # Both processes accept on the one port: over many new connections, each answers.
        wait_for(lambda: _answer(port), 60, "the port answers")
        served: set[int] = set()
        deadline = time.monotonic() + 60
        while served != set(children) and time.monotonic() < deadline:
            served |= _serving_pids(port, children)
        assert served == set(children)
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    assert not child_pids(launcher.pid)


@pytest.mark.parametrize(
    ("environment", "loop", "access_logged"),
    [
        ({}, "uvloop", False),
        ({"WEB_EVENT_LOOP": "asyncio", "WEB_ACCESS_LOG": "true"}, "asyncio", True),
    ],
)
def test_web_command_event_loop_and_access_log(tmp_path, environment, loop, access_logged):
    """Each daphne runs on the event loop WEB_EVENT_LOOP names (uvloop's library is mapped into
    the process, or not), and writes an access log line per request only with WEB_ACCESS_LOG."""
    import signal

    from bench.harness.processes import child_pids, free_port, wait_for

    port = free_port()
    env = {**os.environ, "WEB_CONCURRENCY": "1", **environment}
    log_path = tmp_path / "web.log"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.web", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        (child,) = wait_for(lambda: child_pids(launcher.pid), 60, "the daphne process", 0.5)
        wait_for(lambda: _answer(port), 60, "the port answers")
        maps = Path(f"/proc/{child}/maps").read_text()
        assert ("uvloop/loop." in maps) == (loop == "uvloop")
        wait_for(lambda: _answer(port, "/api/visitors/weekly?marker=1"), 30, "a request")
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    assert ("/api/visitors/weekly?marker=1" in log_path.read_text()) == access_logged


@pytest.mark.parametrize(
    ("loop", "module"), [("uvloop", "uvloop"), ("asyncio", "asyncio.unix_events")]
)
def test_daphne_process_loop_and_collector(loop, module):
    """config.daphne: the loop WEB_EVENT_LOOP names, and once the application is loaded, the
    start-up heap frozen and the youngest generation collected every 50,000 allocations."""
    import json
    import urllib.request

    from bench.harness.processes import free_port, wait_for

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "config.daphne", "--port", str(port), "-v", "0",
         "tests.support.probe_app:application"],
        cwd=ROOT, env={**os.environ, "WEB_EVENT_LOOP": loop},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _answer(port, "/"), 60, "the probe app")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            probe = json.load(response)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert probe["loop"] == module
    assert probe["threshold"] == [50_000, 20, 100]
    assert probe["frozen"] > 10_000  # daphne, Twisted and what the application imported


def test_web_command_rejects_an_unknown_event_loop():
    result = subprocess.run(
        [sys.executable, "-m", "config.web", "--port", "1"],
        cwd=ROOT, env={**os.environ, "WEB_EVENT_LOOP": "tokio"}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "WEB_EVENT_LOOP='tokio' is not valid" in result.stderr


def test_a_throttled_answer_says_too_many_requests_on_its_status_line(tmp_path):
    """Daphne writes the reason phrase from Twisted's table, which lacks 429 (and 422, 425,
    428, 431, 451): a status line `429 Unknown Status` for curl -i and the logs otherwise."""
    import signal
    import socket

    from bench.harness.processes import child_pids, free_port, wait_for

    port = free_port()
    env = {**os.environ, "WEB_CONCURRENCY": "1", "THROTTLE_ANON_RATE": "1/min"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.web", "--port", str(port)],
        cwd=ROOT, env=env, stdout=(tmp_path / "web.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip

    def status_line() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(4096).split(b"\r\n", 1)[0]

    try:
        wait_for(lambda: child_pids(launcher.pid), 60, "the daphne process", 0.5)
        throttled = wait_for(
            lambda: (line := _quietly(status_line)) and b" 429 " in line and line, 60, "a 429"
        )
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    assert throttled == b"HTTP/1.1 429 Too Many Requests"


def _quietly(call):
    try:
        return call()
    except OSError:
        return None


def _answer(port: int, path: str = "/health") -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status in (200, 202, 503)
    except urllib.error.HTTPError as error:
        return error.code in (202, 503)
    except OSError:
        return False


def _serving_pids(port: int, pids: list[int]) -> set[int]:
    """Which of `pids` holds a connection to `port` right after it is accepted."""
    import socket

    found = set()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/visitors/today/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.recv(1024)  # headers: the connection is accepted and held by one process
        local = sock.getsockname()[1]
        for pid in pids:
            for table in ("tcp", "tcp6"):
                try:
                    lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
                except OSError:
                    continue
                inodes = {line.split()[9] for line in lines
                          if int(line.split()[2].split(":")[1], 16) == local}  # fmt: skip
                fds = os.listdir(f"/proc/{pid}/fd")
                for fd in fds:
                    try:
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        found.add(pid)
    return found
