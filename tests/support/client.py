"""Requests through Django's test client that the test expects to succeed."""

from __future__ import annotations

from django.test import Client


def get_json(path: str, query: dict | None = None) -> dict:
    """GET `path` with `query`: asserts a 200 (showing the body otherwise), returns its JSON."""
    response = Client().get(path, query or {})
    assert response.status_code == 200, response.content
    return response.json()
