"""Query parameters are ignored and every error answers one JSON shape (serving.errors)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.library import library_test

pytestmark = library_test


def assert_error(response, status: int, word: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == word
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize("query", ["format=xyz", "format=json", "format=api", "_=1732600000"])
def test_unknown_and_format_parameters_are_ignored(library, client, query):
    library.visit("2020-01-01 10:00:00")
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    plain = client.get("/api/visitors/weekly")
    with_query = client.get(f"/api/visitors/weekly?{query}")
    assert plain.status_code == with_query.status_code == 200
    assert with_query.content == plain.content
    assert with_query["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "path", ["/api/visitors/today?format=xyz", "/api/visitors/summary?format=xyz", "/?format=xyz"]
)
def test_format_parameter_never_answers_404(library, client, path):
    assert client.get(path).status_code in (200, 202)


@pytest.mark.parametrize(
    "path", ["/health", "/metrics", "/", "/api/visitors/today/stream", "/api/visitors/weekly",
             "/api/visitors/today", "/api/books/summary", "/docs", "/docs/json"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_wrong_method_is_a_json_405(library, client, path, method):
    response = getattr(client, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_unknown_api_path_is_a_json_404(client):
    assert_error(client.get("/api/visitors/nope"), 404, "not_found")


def test_drf_errors_share_the_shape(library, client, settings):
    settings.TODAY_INCREMENT_TOKEN = "kiosk"
    settings.TODAY_COUNT_MODE = "incremental"
    auth = {"Authorization": "Token kiosk"}
    path = "/api/visitors/today/increment"
    malformed = client.post(path, "{not json", content_type="application/json", headers=auth)
    assert_error(malformed, 400, "bad_request")
    wrong_type = client.post(path, "by=1", content_type="text/plain", headers=auth)
    assert_error(wrong_type, 415, "unsupported_media_type")
    out_of_range = client.post(path, {"by": 1000}, content_type="application/json", headers=auth)
    assert assert_error(out_of_range, 400, "invalid")["errors"]["by"]
    assert_error(client.get(path), 405, "method_not_allowed")
