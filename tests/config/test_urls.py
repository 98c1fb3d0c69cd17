"""ENABLE_DOCS and ENABLE_SSE_TODAY remove their endpoints entirely."""

from __future__ import annotations

import pytest

from tests.support.urls import urls_with


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
