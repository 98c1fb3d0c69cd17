"""CORS allow-list, caching that survives a Redis outage, security headers."""

from __future__ import annotations

import pytest
from django.core.cache import caches


@pytest.mark.django_db
def test_cors_allows_only_the_listed_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://perpustakaan.example.ac.id"]
    allowed = client.get(
        "/api/visitors/weekly", headers={"Origin": "https://perpustakaan.example.ac.id"}
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://perpustakaan.example.ac.id"
    other = client.get("/api/visitors/weekly", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.django_db
def test_a_redis_outage_does_not_turn_throttling_or_caching_into_500s(client, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    caches.close_all()
    # Nothing computed yet, and Redis gone: warming answers, never a 500.
    for path in ("/api/visitors/weekly", "/api/books/summary", "/api/visitors/summary"):
        response = client.get(path)
        assert response.status_code == 202, path
        assert response.json()["status"] == "warming"


@pytest.mark.django_db
def test_security_headers(client):
    response = client.get("/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert client.get("/docs")["X-Frame-Options"] == "DENY"
