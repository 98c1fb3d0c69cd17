"""Error paths: a view that fails answers 500 with the JSON error body, never a stack trace."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django_redis import get_redis_connection

from metrics_cache.base import keys
from metrics_cache.snapshots.registry import METRICS
from tests.support.library import library_test

ERROR = {"status": "error", "message": "internal error"}


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def assert_json_500(response) -> None:
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == ERROR
    text = response.content.decode()
    assert "Traceback" not in text and "Error" not in text and "redis://" not in text


def corrupt(*metrics: str) -> None:
    """Snapshots whose record is damaged: reading one raises inside the view."""
    for metric in metrics:
        get_redis_connection("default").hset(keys.snapshot(metric), "generated_at", "not a date")


@library_test[0]
@library_test[1]
def test_a_snapshot_view_that_raises_answers_500_json(library, client):
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    corrupt("weekly")
    assert_json_500(client.get("/api/visitors/weekly"))


@library_test[0]
@library_test[1]
@pytest.mark.parametrize("path", ["/api/visitors/summary", "/api/books/summary"])
def test_a_summary_that_raises_answers_500_json(library, client, path):
    call_command("prewarm", stdout=StringIO())
    corrupt(*(metric.name for metric in METRICS))
    assert_json_500(client.get(path))


@pytest.mark.django_db
def test_unknown_api_paths_and_methods_answer_json(client):
    missing = client.get("/api/visitors/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"status": "not_found", "message": "no such endpoint"}
    assert client.post("/health").status_code == 405


@pytest.mark.django_db
def test_a_request_for_another_host_answers_400_json(client):
    response = client.get("/health", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json() == {"status": "bad_request", "message": "malformed request"}


@pytest.mark.django_db
def test_a_forbidden_page_answers_403_json(client):
    from django.contrib.auth import get_user_model

    clerk = get_user_model().objects.create_user("petugas", password="x", is_staff=True)
    client.force_login(clerk)  # staff, but without the permission to manage users
    response = client.get("/admin/auth/user/")
    assert response.status_code == 403
    assert response.json() == {"status": "forbidden", "message": "not allowed"}


@pytest.mark.django_db
def test_a_warming_answer_is_never_stored_by_caches(client):
    response = client.get("/api/visitors/weekly")
    assert response.status_code == 202
    assert response["Cache-Control"] == "no-store"
    assert response["Retry-After"] == "5"
