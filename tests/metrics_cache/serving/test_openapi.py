"""Offline API docs and the OpenAPI document."""

from __future__ import annotations

import re

import pytest


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
    assert tags == {"Visitors", "Books", "Reports", "Network", "Operations"}
    for path in (
        "/api/libraries",
        "/api/network/today/stream",
        "/api/network/reports/annual",
        "/api/network/reports/visits",
        "/api/network/reports/loans",
    ):
        assert document["paths"][path]["get"]["tags"] == ["Network"], path
    visits = document["paths"]["/api/reports/visits"]["get"]
    assert visits["tags"] == ["Reports"]
    assert {"200", "202", "304", "400"} <= set(visits["responses"])
    by = next(p for p in visits["parameters"] if p["name"] == "by")
    assert "weekday_hour" in by["schema"]["enum"]
    assert document["paths"]["/health"]["get"]["tags"] == ["Operations"]
    # Every JSON body has a real schema, never a bare object.
    for path, operations in document["paths"].items():
        for operation in operations.values():
            body = operation["responses"].get("200", {}).get("content", {})
            if "application/json" in body and path != "/health":
                assert "$ref" in body["application/json"]["schema"], path
