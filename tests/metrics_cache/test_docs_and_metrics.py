"""Offline API docs, the OpenAPI document, and Prometheus metrics."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from metrics_cache.today import loop
from tests.support.library import library_test


@pytest.mark.django_db
def test_swagger_ui_works_without_internet(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(rb'(?:src|href)="([^"]+)"', page.content)
    assert assets, "the page loads Swagger UI's assets"
    for asset in assets:
        assert asset.startswith(b"/static/"), f"{asset!r} would need the internet"
        assert client.get(asset.decode()).status_code == 200


@pytest.mark.django_db
def test_openapi_json_documents_every_answer(client):
    response = client.get("/docs/json")
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    document = response.json()
    weekly = document["paths"]["/api/visitors/weekly"]["get"]
    assert weekly["tags"] == ["Visitors"]
    assert set(weekly["responses"]) == {"200", "202", "304"}
    assert "503" in document["paths"]["/api/visitors/today"]["get"]["responses"]
    schemas = document["components"]["schemas"]
    assert schemas["WeeklySnapshot"]["properties"]["data"]["items"]["$ref"].endswith("DailyTotal")
    assert "member_name" in schemas["TopVisitor"]["properties"]
    increment = document["paths"]["/api/visitors/today/increment"]["post"]
    assert {"400", "401", "403", "409"} <= set(increment["responses"])
    tags = {tag["name"] for tag in document["tags"]}
    assert tags == {"Visitors", "Books", "Operations"}
    assert document["paths"]["/health"]["get"]["tags"] == ["Operations"]
    # Every JSON body has a real schema, never a bare object.
    for path, operations in document["paths"].items():
        for operation in operations.values():
            body = operation["responses"].get("200", {}).get("content", {})
            if "application/json" in body and path != "/health":
                assert "$ref" in body["application/json"]["schema"], path


@library_test[0]
@library_test[1]
def test_prometheus_metrics(library, client, settings):
    settings.VISITOR_SYNC_BUFFER_MS = 0
    call_command("prewarm", "--only", "weekly", stdout=StringIO())
    loop.tick()

    def answers(metric: str, outcome: str) -> float:
        text = client.get("/metrics").content.decode()
        labels = f'metric="{metric}",outcome="{outcome}"'
        found = re.search(rf"^libdash_snapshot_answers_total\{{{labels}\}} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    hits, warming = answers("weekly", "hit"), answers("monthly", "warming")
    client.get("/api/visitors/weekly")
    client.get("/api/visitors/monthly")  # a miss: warming
    assert answers("weekly", "hit") == hits + 1
    assert answers("monthly", "warming") == warming + 1
    text = client.get("/metrics").content.decode()
    assert re.search(r'^libdash_snapshot_age_seconds\{metric="weekly"\} [0-9.]+$', text, re.M)
    assert re.search(r"^libdash_fast_loop_last_duration_seconds [0-9.e-]+$", text, re.M)
    assert re.search(r"^libdash_fast_loop_last_success_timestamp_seconds [0-9.e+]+$", text, re.M)
    assert "libdash_sse_clients 0.0" in text
    assert 'libdash_request_duration_seconds_count{method="GET",route="api/visitors/weekly"}' in (
        text
    )
