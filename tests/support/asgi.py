"""Calling an ASGI application in process, as daphne would, and reading its answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from asgiref.sync import async_to_sync


class Conformance:
    """What an ASGI server (daphne) requires of an HTTP application's messages: a start with a
    status and byte headers, then bodies until one without more_body ends the response. A
    message it would reject, or that would end a stream early, fails the test here."""

    def __init__(self):
        self.started = self.ended = False

    def check(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            assert not self.started, "the response was started twice"
            assert isinstance(message.get("status"), int), message
            for name, value in message.get("headers", ()):
                assert isinstance(name, bytes) and isinstance(value, bytes), (name, value)
            self.started = True
        elif kind == "http.response.body":
            assert self.started, "a body before the response started"
            assert not self.ended, "a body after the response ended"
            assert isinstance(message.get("body", b""), bytes), message
            self.ended = not message.get("more_body", False)
        else:
            raise AssertionError(f"not an ASGI HTTP response message: {message!r}")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()  # as sent: names in their case, repeats

    def header_list(self) -> list[tuple[bytes, bytes]]:
        """The headers as sent, in a stable order (Django's and the edge's orders differ)."""
        return sorted(self.raw_headers)


def scope(method: str, path: str, headers: dict[str, str] | None = None, *,
          client: str = "127.0.0.1", query: bytes = b"", scheme: str = "http") -> dict:  # fmt: skip
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (k.lower().encode(), v.encode("latin-1"))
            for k, v in {"Host": "127.0.0.1", **(headers or {})}.items()
        ],
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app, request_scope: dict) -> Answer:
    sent: list[dict] = []
    conformance = Conformance()
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected (Django's task is cancelled)

    async def send(message):
        conformance.check(message)
        sent.append(message)

    await app(request_scope, receive, send)
    assert conformance.ended, "the response never ended"
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers: dict[str, str] = {}
    for name, value in start["headers"]:
        name = name.decode().lower()
        headers[name] = f"{headers[name]}, {value.decode()}" if name in headers else value.decode()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    raw = tuple((bytes(name), bytes(value)) for name, value in start["headers"])
    return Answer(start["status"], headers, body, raw)


def django_stand_in(reached: list):
    """Not Django: answers 204 and notes each path, so a test sees which requests the edge hands
    on (Django's own stream would keep a thread per connection a test cannot close)."""

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def call(app, method: str, path: str, headers: dict[str, str] | None = None, **kwargs) -> Answer:
    return async_to_sync(_call)(app, scope(method, path, headers, **kwargs))


class OpenStream:
    """An ASGI request left open, as an EventSource's: read its messages, then hang up."""

    def __init__(self, app, request_scope: dict):
        self.app, self.scope = app, request_scope
        self.messages: asyncio.Queue = asyncio.Queue()
        self._incoming: asyncio.Queue = asyncio.Queue()
        self._incoming.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self.task: asyncio.Task | None = None
        self.conformance = Conformance()

    async def _send(self, message: dict) -> None:
        self.conformance.check(message)
        await self.messages.put(message)

    async def __aenter__(self) -> OpenStream:
        self.task = asyncio.ensure_future(self.app(self.scope, self._incoming.get, self._send))
        return self

    async def start(self, timeout: float = 10) -> dict:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def read_until(self, marker: bytes, timeout: float = 10) -> bytes:
        body = b""
        async with asyncio.timeout(timeout):
            while marker not in body:
                message = await self.messages.get()
                body += message.get("body", b"")
                if marker not in body:
                    assert message.get("more_body", True), f"the stream ended before {marker!r}"
        return body

    async def __aexit__(self, *exc) -> None:
        self._incoming.put_nowait({"type": "http.disconnect"})
        try:
            await asyncio.wait_for(self.task, 10)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
