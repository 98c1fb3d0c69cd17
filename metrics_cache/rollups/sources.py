"""The SLiMS tables rolled up, as settings.ROLLUP_SOURCES names them (the engine names no
domain app: each app declares its Source beside its own tables)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from metrics_cache.rollups.engine import Source


@functools.cache
def _load(paths: tuple[str, ...]) -> dict[str, Source]:
    loaded = [import_string(path) for path in paths]
    return {source.name: source for source in loaded}


def sources() -> dict[str, Source]:
    """{name: Source}, in the setting's order."""
    return _load(tuple(settings.ROLLUP_SOURCES))


def source(name: str) -> Source:
    return sources()[name]
