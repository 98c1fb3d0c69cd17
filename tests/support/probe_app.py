"""An ASGI app that reports the process it runs in: served by `python -m config.daphne` in
tests/config/test_web.py to see the event loop and the collector the web processes get."""

from __future__ import annotations

import asyncio
import gc
import json


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({
        "loop": type(asyncio.get_running_loop()).__module__,
        "threshold": list(gc.get_threshold()),
        "frozen": gc.get_freeze_count(),
    }).encode()  # fmt: skip
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
