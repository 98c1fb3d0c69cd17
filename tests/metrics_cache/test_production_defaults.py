"""CORS allow-list, throttling that survives a Redis outage, security headers."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from metrics_cache.throttling import AnonymousRateThrottle


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
def test_anonymous_clients_are_throttled(client, monkeypatch):
    # DRF reads the rates into the class when it is defined.
    monkeypatch.setattr(AnonymousRateThrottle, "THROTTLE_RATES", {"anon": "3/min"})
    codes = [client.get("/api/visitors/weekly").status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    assert "Retry-After" in client.get("/api/visitors/weekly")


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
