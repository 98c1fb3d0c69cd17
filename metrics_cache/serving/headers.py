"""The headers Django's middleware adds to an anonymous API answer, for the fast path.

The fast path (serving.edge) skips the middleware, so it adds what the middleware would:
security headers, CORS, the negotiated Content-Language and Vary, Content-Length and DRF's
Allow. tests/metrics_cache/serving/test_edge.py compares every header of both paths, so a middleware
added to settings without being mirrored here fails that test rather than going unnoticed.
"""

from __future__ import annotations

import functools
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.cache import cc_delim_re
from django.utils.translation import trans_real

from metrics_cache.serving.stream import HEADERS as STREAM_HEADERS

JSON = "application/json"
HTML = "text/html; charset=utf-8"  # an HttpResponse's default, which Django's 304s carry
# DRF's Allow for a GET view (HEAD comes with GET).
ALLOW = "GET, HEAD, OPTIONS"
# The Vary entries LocaleMiddleware, SessionMiddleware (the session is read: by DRF's session
# authentication, by django-eventstream's request) and CorsMiddleware add, in that order.
MIDDLEWARE_VARY = ("Accept-Language", "Cookie", "origin")


def host_allowed(host: str) -> bool:
    """Django's ALLOWED_HOSTS check (CommonMiddleware answers 400 otherwise)."""
    return _host_allowed(host, tuple(settings.ALLOWED_HOSTS))


@functools.lru_cache(maxsize=64)
def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def request_header(scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # pragma: no mutate (codec names in any case)
    return ""


def as_django(scope, view_headers: dict[str, str], body: bytes | None,
              content_type: str = JSON, *, drf: bool = True, session: bool = True):  # fmt: skip
    """The ASGI header list Django would send for a view's answer with `view_headers`: a DRF
    view's (`drf`), or a plain view's; one that reads the session (`session`: Vary: Cookie);
    `body` None for a streaming answer."""
    response = {"Content-Type": content_type, **view_headers}
    response["Vary"] = _vary(view_headers.get("Vary", ""), session)
    response["Content-Language"] = _language(
        request_header(scope, b"accept-language"), request_header(scope, b"cookie")
    )
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    if body is not None:
        response["Content-Length"] = str(len(body))
    if drf:
        response["Allow"] = ALLOW
    if settings.SECURE_HSTS_SECONDS and scope.get("scheme") == "https":
        response["Strict-Transport-Security"] = _hsts()
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        response["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        response["Referrer-Policy"] = settings.SECURE_REFERRER_POLICY
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        response["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    origin = request_header(scope, b"origin")
    if origin and _origin_allowed(
        origin,
        tuple(settings.CORS_ALLOWED_ORIGINS),
        tuple(settings.CORS_ALLOWED_ORIGIN_REGEXES),
    ):
        response["access-control-allow-origin"] = origin
    return [
        (name.encode("latin-1"), value.encode("latin-1"))  # pragma: no mutate (codec name case)
        for name, value in response.items()
    ]


@functools.lru_cache(maxsize=16)
def _vary(view_vary: str, session: bool) -> str:
    entries = [entry for entry in cc_delim_re.split(view_vary) if entry]
    seen = {entry.lower() for entry in entries} | (set() if session else {"cookie"})
    entries += [entry for entry in MIDDLEWARE_VARY if entry.lower() not in seen]
    return ", ".join(entries)


@functools.lru_cache(maxsize=256)
def _language(accept_language: str, cookie: str) -> str:
    """LocaleMiddleware's choice (cookie, Accept-Language, LANGUAGE_CODE), by Django itself."""
    request = SimpleNamespace(
        COOKIES=parse_cookie(cookie) if cookie else {},
        META={"HTTP_ACCEPT_LANGUAGE": accept_language},
    )
    return trans_real.get_language_from_request(request)


def _hsts() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


@functools.lru_cache(maxsize=64)
def _origin_allowed(origin: str, allowed: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """corsheaders' allow-list check (scheme, host and port), for the listed origins and the
    patterns (both in the cache key: a test, or a reloaded setting, changes either)."""
    if origin == "null":
        return "null" in allowed
    try:
        url = urlsplit(origin)
    except ValueError:
        return False
    return any(
        (url.scheme, url.netloc) == (listed.scheme, listed.netloc)
        for listed in map(urlsplit, allowed)
    ) or any(re.match(pattern, origin) for pattern in patterns)


def event_stream(scope):
    """The headers of an SSE answer served in front of Django (a library's stream, the
    network's), as Django's stream view sends them."""
    return as_django(
        scope,
        STREAM_HEADERS,
        None,
        "text/event-stream",
        drf=False,  # pragma: no mutate (None reads as False)
    )
