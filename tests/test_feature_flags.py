"""ENABLE_DOCS and ENABLE_SSE_TODAY remove their endpoints entirely."""

from __future__ import annotations

import importlib
from contextlib import contextmanager

import pytest
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


@pytest.mark.django_db
def test_docs_can_be_turned_off(client, settings):
    with urls_with(settings, ENABLE_DOCS=False):
        assert client.get("/docs").status_code == 404
        assert client.get("/docs/json").status_code == 404
    assert client.get("/docs/json").status_code == 200


@pytest.mark.django_db
def test_the_stream_can_be_turned_off(client, settings):
    with urls_with(settings, ENABLE_SSE_TODAY=False):
        response = client.get("/api/visitors/today/stream")
        assert response.status_code == 404
        assert response.json()["status"] == "not_found"
        page = client.get("/").content.decode()
        assert '"stream": null' in page  # the page polls /api/visitors/today instead
