"""In front of Django (config.asgi): the client's real address, throttling on every URL, and
anonymous cached reads answered straight from Redis.

A fast answer costs one Redis round trip (the throttle counter and the read, pipelined), no
ORM, no middleware thread and no thread hop: the bytes and their ETag and Last-Modified were
prepared when the snapshot was stored. Whatever it cannot answer from that one read (staff,
a cache miss with its 202 and queued refresh, Redis down, an HTTPS redirect) goes to Django's
documented DRF views unchanged, and tests/metrics_cache/serving/test_edge.py checks that both answer
byte for byte alike. The stream is the exception: a miss or an unreachable Redis is counted
once (in a pool thread, shared by the streams connecting meanwhile) and streamed from here,
since Django's stream would hold a thread for as long as each client stays connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone
from redis.exceptions import RedisError

from config.library import current, serving
from metrics_cache.base import keys
from metrics_cache.base.redis import async_client
from metrics_cache.network import states
from metrics_cache.serving import (
    answers,
    clients,
    fanout,
    headers,
    network_stream,
    prefixes,
    stream,
    throttling,
)
from metrics_cache.serving.instruments import REQUEST_SECONDS, count_outcome
from metrics_cache.snapshots import summaries
from metrics_cache.snapshots.registry import METRICS
from metrics_cache.snapshots.store import fields
from metrics_cache.today.current import current_today
from metrics_cache.today.publishing import todays_value

logger = logging.getLogger(__name__)

# Redis must answer the fast path within this, or the request goes to Django.
REDIS_TIMEOUT_SECONDS = 2
# Connections to Redis per web process.
REDIS_CONNECTIONS = 64


def _routes() -> dict[str, tuple[str, str]]:
    routes = {path: ("snapshot", metric.name) for metric in METRICS for path in metric.paths}
    routes.update({summaries.path(summary): ("summary", summary.kind)
                   for summary in summaries.SUMMARIES})  # fmt: skip
    routes["api/visitors/today"] = (
        # _read's last branch serves today's key whatever this kind is called, and the route
        # names no metric: renaming either changes nothing a client sees.
        "today",  # pragma: no mutate
        "",  # pragma: no mutate
    )
    routes["api/visitors/today/stream"] = (
        "stream",
        "",  # pragma: no mutate (the stream route names no metric)
    )
    routes[network_stream.PATH[1:]] = ("network", "")
    routes["api/libraries"] = ("libraries", "")
    return {"/" + path: route for path, route in routes.items()}


ROUTES = _routes()
NOT_FOUND_HEADERS = {"Cache-Control": "no-store"}
LIBRARIES_HEADERS = {"Cache-Control": "no-store"}


class Edge:
    """ASGI application wrapping Django's."""

    def __init__(self, django_app):
        self.django = django_app
        # One client per event loop (daphne has one; tests make several).
        self._scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._counting: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _script(self):
        loop = asyncio.get_running_loop()
        script = self._scripts.get(loop)
        if script is None:
            # No socket_timeout: redis-py would wrap every read in asyncio.wait_for (a task
            # per read); one asyncio.timeout around the whole call bounds it instead.
            # A bounded pool that makes a burst wait its turn (a reconnect storm of SSE
            # clients) instead of failing over to Django when connections run out.
            client = async_client(
                blocking_pool=REDIS_CONNECTIONS,
                # asyncio.timeout(REDIS_TIMEOUT_SECONDS) around each call bounds these waits
                # (for a free connection, for a new one) whatever they are set to.
                **({} if settings.REDIS_SENTINELS else {"timeout": REDIS_TIMEOUT_SECONDS}),
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,  # pragma: no mutate
            )
            script = client.register_script(throttling.COUNT_AND_READ)
            self._scripts[loop] = script
        return script

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.django(scope, receive, send)
        started = time.perf_counter()
        scope = clients.resolve(scope)
        # Throttled per client address across the deployment, whichever library is asked.
        throttle = throttling.counter(clients.address(scope))
        found = prefixes.resolve(scope)
        if found.library is None:
            await _send(send, 404, *_not_found(scope, found.problem))
            return None
        if not found.path:  # /l/<slug>: its dashboard is /l/<slug>/
            location = (found.scope["root_path"] + "/").encode()
            await _send(send, 301, [(b"location", location), (b"content-length", b"0")], b"")
            return None
        with serving(found.library):
            return await self._serve(found.scope, found.path, receive, send, throttle, started)

    async def _serve(self, scope, path, receive, send, throttle, started):
        route = _fast_route(scope, path)
        key, limit, lifetime, left = throttle
        read_keys, read_args, answer = _read(route) if route else ((), (), None)
        broadcast = stream.broadcast_of(current().slug)
        sequence = broadcast.sequence  # before the count is read (see stream.serve)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                reply = await self._script()(keys=[key, *read_keys], args=[lifetime, *read_args])
        except (RedisError, OSError, TimeoutError):
            if route and route[0] == "stream":  # counted once, then streamed from here
                return await self._stream(scope, receive, send, None, sequence, broadcast)
            if route and route[0] == "network":
                return await network_stream.serve(scope, receive, send, None, 0)
            # Redis is down: nothing to count with; Django serves the last good copies.
            return await self.django(scope, receive, send)
        if reply[0] > limit:
            response_headers, body = throttling.too_many(left)
            await _send(send, 429, response_headers, body)
            return None
        if route and route[0] == "stream":
            return await self._stream(scope, receive, send, reply[1], sequence, broadcast)
        if route and route[0] == "network":
            client = self._script().registered_client
            return await network_stream.serve(scope, receive, send, client, REDIS_TIMEOUT_SECONDS)
        answered = answer(scope, reply[1]) if answer else None
        if answered is None:
            return await self.django(scope, receive, send)
        status, response_headers, body = answered
        await _send(send, status, response_headers, body)
        REQUEST_SECONDS.labels(path[1:], scope["method"]).observe(time.perf_counter() - started)
        return None

    async def _stream(self, scope, receive, send, raw, sequence: int, broadcast):
        value, source = todays_value(raw), "cache"
        if value is None:  # a miss, or Redis unreachable: the API's own count, shared
            value, source = await self._count_today()
        at = timezone.localtime().isoformat(timespec="milliseconds")
        response_headers = headers.event_stream(scope)
        fanout.ensure_running()
        await stream.serve(receive, send, response_headers, stream.init_event(value, at, source),
                           value["total"] if value else None, sequence, broadcast)  # fmt: skip
        return None

    async def _count_today(self) -> tuple[dict | None, str]:
        """today.current.current_today (the cache, else one count in the database shared by every
        process) in a pool thread, shared by every stream of this process connecting
        meanwhile: a reconnect storm after a Redis flush costs one count and no thread per
        client (Django's stream would keep one per connection)."""
        loop = asyncio.get_running_loop()
        counting = self._counting.get(loop)
        if counting is None or counting.done():
            # In Django's sync thread or a pool thread: the same answer, one count either way.
            counting = loop.create_task(
                sync_to_async(_count_today, thread_sensitive=False)()  # pragma: no mutate
            )
            self._counting[loop] = counting
        return await asyncio.shield(counting)


def _count_today() -> tuple[dict | None, str]:
    try:
        return current_today()
    finally:
        connections[current().alias].close()  # nothing left open in the pool's thread


def _not_found(scope, problem: str):
    body = json.dumps({"status": "not_found", "message": problem}).encode()
    return headers.as_django(scope, NOT_FOUND_HEADERS, body, drf=False), body


def _fast_route(scope, path: str) -> tuple[str, str] | None:
    """Anonymous GET/HEAD of a cached path; anything with credentials goes to Django."""
    if scope["method"] not in ("GET", "HEAD"):
        return None
    query = scope.get("query_string", b"")  # ASGI lets a server leave it out
    route = ROUTES.get(path)
    if route is None:
        return None
    if route[0] in ("stream", "network"):
        # The stream shows no member data: credentials do not matter. A resumed stream
        # (Last-Event-ID, django-eventstream's query parameters) is django-eventstream's.
        resumed = query or any(name == b"last-event-id" for name, _ in scope["headers"])
        if scope["method"] != "GET" or resumed or not settings.ENABLE_SSE_TODAY:
            return None
        return route
    if settings.SECURE_SSL_REDIRECT and scope.get("scheme") != "https":
        return None  # Django redirects
    if b"format=" in query:
        return None  # DRF's format override decides these
    if not headers.host_allowed(headers.request_header(scope, b"host")):
        return None  # Django answers 400 (ALLOWED_HOSTS)
    for name, value in scope["headers"]:
        if name == b"authorization":
            return None
        if name == b"cookie" and settings.SESSION_COOKIE_NAME.encode() + b"=" in value:
            return None
    return route


def _read(route):
    """(keys, arguments) of the read for COUNT_AND_READ, and what answers from its reply."""
    kind, name = route
    if kind == "snapshot":
        body_field, etag_field = fields(settings.MEMBER_DETAILS)
        return (
            (keys.snapshot(name),),
            ("hmget", body_field, etag_field, "last_modified"),
            lambda scope, values: _snapshot(scope, name, values),
        )
    if kind == "summary":
        return (keys.summary(name, settings.MEMBER_DETAILS),), ("get",), _summary
    if kind == "libraries":
        return tuple(states.listing_keys()), ("listing",), _libraries
    return (keys.today_count(),), ("get",), _today


def _snapshot(scope, name: str, values):
    body, etag, last_modified = values
    if body is None or etag is None or last_modified is None:
        return None  # warming: Django answers 202 and queues the refresh
    stored_headers = {
        "ETag": etag.decode(),
        "Last-Modified": last_modified.decode(),
        "Cache-Control": answers.CACHE_CONTROL,
        "Vary": answers.VARY,
    }
    if answers.etag_matches(headers.request_header(scope, b"if-none-match"), etag.decode()):
        count_outcome(name, "not_modified")
        return 304, headers.as_django(scope, stored_headers, b"", headers.HTML), b""
    count_outcome(name, "hit")
    return 200, headers.as_django(scope, stored_headers, body), body


def _summary(scope, body):
    if body is None:
        return None
    return 200, headers.as_django(scope, answers.SUMMARY_HEADERS, body), body


def _libraries(scope, found):
    """GET /api/libraries as network_views.libraries_view answers it (JsonResponse's bytes)."""
    body = json.dumps(states.listing_rows(found)).encode()
    # A plain view that reads no session: no Vary: Cookie.
    return 200, headers.as_django(scope, LIBRARIES_HEADERS, body, drf=False, session=False), body


def _today(scope, raw):
    value = todays_value(raw)
    if value is None:
        return None  # a miss, or yesterday's figure: Django counts
    body = answers.today_body(value, "cache")
    return 200, headers.as_django(scope, answers.TODAY_HEADERS, body), body


async def _send(send, status: int, response_headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
