"""Django behind the fast path: the same request through Django alone and through the edge,
and their answers compared."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from config.asgi import django_application
from metrics_cache.serving.edge import Edge
from tests.support.asgi import call

JAKARTA = ZoneInfo("Asia/Jakarta")

ALLOWED_ORIGIN = "https://perpustakaan.example.ac.id"


class CountingDjango:
    """Django's ASGI application, counting the requests that reach it."""

    def __init__(self, app=django_application):
        self.calls = 0
        self.app = app

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await self.app(scope, receive, send)


def both(method, path, headers=None, *, app=django_application, **kwargs):
    """The same request through Django alone and through the edge in front of it."""
    counting = CountingDjango(app)
    direct = call(app, method, path, headers, **kwargs)
    through_edge = call(Edge(counting), method, path, headers, **kwargs)
    return direct, through_edge, counting.calls


def assert_same(direct, fast, what):
    assert fast.status == direct.status, what
    assert fast.body == direct.body, what
    assert fast.header_list() == direct.header_list(), what
