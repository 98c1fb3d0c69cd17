"""The minimal /health: 200 while Redis answers, 503 (JSON, no internals) when it does not."""

from __future__ import annotations

import pytest


def test_health_ok_while_redis_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


def test_health_503_when_redis_does_not_answer(client, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"] == "unreachable"
    assert "127.0.0.1:1" not in response.content.decode()


@pytest.mark.parametrize("path", ["/health/", "/healthz"])
def test_health_path_is_exact(client, path):
    assert client.get(path).status_code == 404
