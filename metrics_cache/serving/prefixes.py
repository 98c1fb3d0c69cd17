"""/l/<slug>/…: which library a request is for. Every endpoint and page exists under each
library's prefix; the paths without one serve the home library (the only one, or `default`),
and the deployment's own paths (the network's, health, metrics, the admin, the docs) stand
beside them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from config.libraries import Library
from config.library import by_slug, home

PREFIX = "/l/"
# Paths that are the deployment's, whichever libraries it serves.
DEPLOYMENT_PATHS = ("/api/libraries", "/api/network/", "/network", "/health", "/metrics",
                    "/admin/", "/docs", "/static/")  # fmt: skip
LIST_HINT = "GET /api/libraries lists this deployment's libraries, each served under /l/<slug>/"


@dataclass(frozen=True)
class Resolved:
    library: Library | None  # None: no such library (`problem` says why)
    scope: dict  # Django's: the prefix moved to root_path (its script name)
    path: str  # the path within the library: what the routes are matched against
    problem: str = ""


def resolve(scope: dict) -> Resolved:
    """Which library `scope` is for. Mounted under a root path, the request's path may carry
    it or not (ASGI servers differ); Django's scope gets it either way, with the library's
    prefix after it as its script name."""
    root = scope.get("root_path", "")
    # `if root` saves a call: removeprefix("") is the path itself.
    path = scope["path"].removeprefix(root) if root else scope["path"]  # pragma: no mutate
    if path.startswith(PREFIX):
        slug, slash, rest = path[len(PREFIX) :].partition("/")
        library = by_slug(slug)
        if library is None:
            return _not_found(f"no library {slug!r}: {LIST_HINT}")
        script = root + PREFIX + slug
        return Resolved(library, {**scope, "root_path": script, "path": root + path}, slash + rest)
    if settings.LIBRARIES_UNPREFIXED or path.startswith(DEPLOYMENT_PATHS):
        return Resolved(home(), scope, path)
    return _not_found(f"several libraries and none named default: {LIST_HINT}")


def _not_found(problem: str) -> Resolved:
    """No library: the edge answers 404 from the request's own scope."""
    # A not-found's scope and script are never read (the edge answers from the request's own).
    return Resolved(None, {}, "", problem)  # pragma: no mutate
