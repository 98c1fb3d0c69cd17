"""Tools for the fault suite: a TCP proxy that can take the library database away, a poller
that records every status a dashboard would have seen, and measurements of the web process."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.harness.processes import child_pids

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


class TcpProxy:
    """127.0.0.1:<port> -> target. stop() refuses new connections and cuts open ones, as a
    stopped database server does; start() serves again on the same port."""

    def __init__(self, target_port: int, port: int):
        self.target_port, self.port = target_port, port
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the accepting thread: the port is free
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b, observe in ((client, upstream, self._observer()), (upstream, client, None)):
                threading.Thread(target=self._pipe, args=(a, b, observe), daemon=True).start()

    def _observer(self):
        """What sees the bytes a new connection's client sends (None: nothing)."""
        return None

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, observe=None) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
                if observe is not None:
                    observe(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""  # no answer at all (the web process is down)


class Poller:
    """Polls paths as a dashboard does and keeps (time, path, status) of every answer."""

    def __init__(self, port: int, paths: list[str], every: float = 0.25):
        self.port, self.paths, self.every = port, paths, every
        self.answers: list[tuple[float, str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in self.paths:
                status, _ = get(self.port, path)
                self.answers.append((time.monotonic(), path, status))
            time.sleep(self.every)

    def server_errors(self, *, allowed: dict[str, set[int]] | None = None) -> list:
        allowed = allowed or {}
        return [
            (path, status)
            for _, path, status in self.answers
            if status >= 500 and status not in allowed.get(path, set())
        ]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and the ones it started (the web command and its daphne)."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def record(scenario: str, **figures) -> None:
    """Adds a scenario's figures to var/artifacts/faults.json (the BENCHMARKS faults table)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "faults.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[scenario] = figures
    path.write_text(json.dumps(data, indent=2))


class CountingProxy(TcpProxy):
    """A TcpProxy that counts the connections made through it and the statements sent on
    them (MySQL protocol: client packets that start a command, COM_QUERY and prepared-statement
    execution), so a test can tell which process talked to the library database."""

    STATEMENT_COMMANDS = {0x03, 0x16, 0x17}  # COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE

    def __init__(self, target_port: int, port: int):
        super().__init__(target_port, port)
        self.connections = 0
        self.statements = 0

    def reset(self) -> None:
        with self._lock:
            self.connections = self.statements = 0

    def _observer(self):
        """Counts the connection, and the statements its client sends."""
        with self._lock:
            self.connections += 1
        buffer = b""

        def observe(chunk: bytes) -> None:
            nonlocal buffer
            buffer += chunk
            while len(buffer) >= 5:
                length = int.from_bytes(buffer[:3], "little")
                if len(buffer) < 4 + length:
                    break
                sequence, command = buffer[3], buffer[4]
                if sequence == 0 and command in self.STATEMENT_COMMANDS:
                    with self._lock:
                        self.statements += 1
                buffer = buffer[4 + length :]

        return observe


def mariadb_status(cursor) -> dict[str, int]:
    """MariaDB's server-wide Connections and Questions (every client's, not only ours)."""
    cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Questions')")
    return {name: int(value) for name, value in cursor.fetchall()}


class HangingProxy(TcpProxy):
    """A TcpProxy that, once hang() is called, keeps every connection open and forwards
    nothing more either way: a database host that drops packets."""

    def __init__(self, target_port: int, port: int):
        super().__init__(target_port, port)
        self.hanging = threading.Event()

    def hang(self) -> None:
        self.hanging.set()

    def recover(self) -> None:
        """Forwards again; the connections that hung are cut (their bytes are lost)."""
        self.stop()
        self.hanging.clear()
        self.start()

    def _pipe(self, source: socket.socket, sink: socket.socket, observe=None) -> None:
        try:
            while chunk := source.recv(65536):
                if not self.hanging.is_set():
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            if not self.hanging.is_set():
                for sock in (source, sink):
                    with contextlib.suppress(OSError):
                        sock.close()
