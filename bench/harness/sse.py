"""Many SSE clients in one asyncio process, on raw HTTP/1.1, with what each has seen."""

from __future__ import annotations

import asyncio
import json
import time

STREAM_PATH = "/api/visitors/today/stream"


class Hub:
    """What every client has seen, and the round being timed."""

    def __init__(self, clients: int):
        self.clients = clients
        self.init_at: dict[int, float] = {}
        self.open_at: dict[int, float] = {}
        self.init_total: dict[int, int | None] = {}
        self.updates: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
        self.errors: dict[int, str] = {}
        self.closed_early: set[int] = set()
        self.all_open = asyncio.Event()
        self.expected: int | None = None
        self.arrivals: dict[int, float] = {}
        self.generated_at: str | None = None
        self.round_done = asyncio.Event()

    def on_event(self, client: int, event: str, data: str, now: float) -> None:
        if event == "init":
            self.init_at[client] = now
            self.init_total[client] = json.loads(data)["total"]
        elif event == "stream-open":
            self.open_at[client] = now
            if len(self.open_at) == self.clients:
                self.all_open.set()
        elif event == "update":
            value = json.loads(data)
            total = int(value["total"])
            self.updates[client].append((now, total))
            if total == self.expected and client not in self.arrivals:
                self.arrivals[client] = now
                self.generated_at = value.get("generated_at")
                if len(self.arrivals) == self.clients:
                    self.round_done.set()

    def start_round(self, expected: int) -> None:
        """Times the next `update` carrying `expected` at every client."""
        self.expected = expected
        self.arrivals = {}
        self.generated_at = None
        self.round_done = asyncio.Event()


def parse_event(raw: bytes) -> tuple[str, str]:
    event, data = "message", []
    for line in raw.decode().split("\n"):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return event, "\n".join(data)


async def client(index: int, port: int, hub: Hub, gate: asyncio.Semaphore, writers: list):
    """One client: connects while holding `gate` (so connections are set up in waves) until its
    stream is open, then hands every event to `hub` until the server closes the stream."""
    buffer = b""
    try:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers[index] = writer
            writer.write(
                f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if status.split(b" ")[1:2] != [b"200"]:
                raise RuntimeError(status.decode(errors="replace"))
            chunked = b"transfer-encoding: chunked" in head.lower()
            while index not in hub.open_at:
                data = await read_body(reader, chunked)
                if data is None:
                    hub.closed_early.add(index)
                    return
                buffer = dispatch(index, hub, buffer + data)
        while True:
            data = await read_body(reader, chunked)
            if data is None:
                hub.closed_early.add(index)
                return
            buffer = dispatch(index, hub, buffer + data)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        hub.errors[index] = f"{type(exc).__name__}: {exc}"[:200]


async def read_body(reader, chunked: bool) -> bytes | None:
    """The next piece of the body (one chunk when chunked); None at its end."""
    if not chunked:
        return await reader.read(65536) or None
    size_line = await reader.readuntil(b"\r\n")
    size = int(size_line.split(b";")[0].strip(), 16)
    if size == 0:
        return None
    data = await reader.readexactly(size + 2)
    return data[:-2]


def dispatch(index: int, hub: Hub, buffer: bytes) -> bytes:
    """Hands every complete event in `buffer` to the hub; returns what is left."""
    now = time.monotonic()
    buffer = buffer.replace(b"\r\n", b"\n")
    while b"\n\n" in buffer:
        raw, buffer = buffer.split(b"\n\n", 1)
        event, data = parse_event(raw)
        hub.on_event(index, event, data, now)
    return buffer
