"""A small EventSource for tests: reads an SSE stream in a thread and reconnects like a browser."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time


class SSEClient:
    def __init__(self, port: int, path: str = "/api/visitors/today/stream", *, retry_for=60.0):
        self.port, self.path, self.retry_for = port, path, retry_for
        self.events: queue.Queue[tuple[str, dict | None]] = queue.Queue()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        give_up = time.monotonic() + self.retry_for
        while not self._stop.is_set() and time.monotonic() < give_up:
            try:
                self._read_one_connection()
                give_up = time.monotonic() + self.retry_for
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.5)  # EventSource's reconnection delay, roughly

    def _read_one_connection(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", self.path, headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        if response.status != 200:
            raise http.client.HTTPException(f"status {response.status}")
        self.connections += 1
        event, data = "message", []
        while not self._stop.is_set():
            line = response.fp.readline()
            if not line:
                return  # the server closed the stream
            line = line.decode().rstrip("\r\n")
            if line == "":
                if data:
                    payload = "\n".join(data)
                    self.events.put((event, json.loads(payload) if payload else None))
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def wait_for(self, kind: str, seconds: float, where=lambda data: True) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event, data = self.events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event == kind and data is not None and where(data):
                return data
        raise AssertionError(f"no {kind!r} event within {seconds:.0f} s")

    def close(self) -> None:
        self._stop.set()
