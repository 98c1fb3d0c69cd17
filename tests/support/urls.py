"""Settings that change which URLs exist, applied by reloading config.urls."""

from __future__ import annotations

import importlib
from contextlib import contextmanager

from django.urls import clear_url_caches


@contextmanager
def urls_with(settings, **flags):
    import config.urls

    for name, value in flags.items():
        setattr(settings, name, value)
    try:
        importlib.reload(config.urls)
        clear_url_caches()
        yield
    finally:
        for name in flags:
            setattr(settings, name, True)
        importlib.reload(config.urls)
        clear_url_caches()
