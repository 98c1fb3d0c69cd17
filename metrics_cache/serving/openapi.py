"""OpenAPI parts shared by the views (drf-spectacular): the envelopes, the error and warming
answers, and the endpoints that are not DRF views."""

from __future__ import annotations

import functools

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

Period = inline_serializer(
    "Period",
    fields={
        "from": serializers.DateField(allow_null=True, help_text="null: all time"),
        "to": serializers.DateField(help_text="yesterday, in the library's time zone"),
    },
)


@functools.cache
def envelope(name: str, item: type[serializers.Serializer], many: bool):
    return inline_serializer(
        f"{name.title().replace('_', '')}Snapshot",
        fields={
            "generated_at": serializers.DateTimeField(),
            "ttl_seconds": serializers.IntegerField(help_text="the configured TTL"),
            "period": Period,
            "data": item(many=many),
        },
    )


class Warming(serializers.Serializer):
    status = serializers.ChoiceField(choices=["warming"])
    message = serializers.CharField()
    retry_after_seconds = serializers.IntegerField()


class Problem(serializers.Serializer):
    """Every error's shape (serving.errors)."""

    status = serializers.CharField(help_text="e.g. not_found, method_not_allowed, invalid")
    message = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="per field, when status is invalid")


WARMING = OpenApiResponse(Warming, description="not in the cache yet: retry after Retry-After")
NOT_MODIFIED = OpenApiResponse(description="not modified (If-None-Match matched the ETag)")
UNAVAILABLE = OpenApiResponse(Problem, description="the cache is unreachable")
BAD_REQUEST = OpenApiResponse(Problem, description="a malformed request")


EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}


def document_extra_paths(result, generator, request, public):
    """The endpoints that are not DRF views: the SSE streams, the libraries, health and
    metrics."""
    paths = result.setdefault("paths", {})
    paths["/api/visitors/today/stream"] = {
        "get": {
            "operationId": "visitors_today_stream",
            "tags": ["Visitors"],
            "summary": "Today's count, live (Server-Sent Events)",
            "description": (
                "`init` {total, source, at} on every connection, `update` {total, generated_at}"
                " whenever the count changes and at local midnight, keep-alive every 20 s."
            ),
            "responses": {
                "200": {"description": "an event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "400": {"description": "a malformed Last-Event-ID"},
                "404": {"description": "ENABLE_SSE_TODAY=false"},
            },
        }
    }  # fmt: skip
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "tags": ["Operations"],
            "summary": "Health: ok, degraded (200) or unavailable (503)",
            "responses": {
                "200": {"description": "ok or degraded",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": {"description": "Redis unreachable: the service cannot serve"},
            },
        }
    }  # fmt: skip
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Libraries"] = {"type": "array", "items": {"type": "object", "properties": {
        "slug": {"type": "string"}, "name": {"type": "string"}, "time_zone": {"type": "string"},
        "today": {"type": "integer", "nullable": True},
        "state": {"type": "string", "enum": ["ok", "degraded", "unreachable"]},
    }, "required": ["slug", "name", "time_zone", "today", "state"]}}  # fmt: skip
    paths["/api/libraries"] = {
        "get": {
            "operationId": "libraries",
            "tags": ["Network"],
            "summary": "Every library: its count today and its state",
            "description": (
                "[{slug, name, time_zone, today (null before its first count), state: ok | "
                "degraded | unreachable}]; each library is served under /l/<slug>/."
            ),
            "responses": {"200": {"description": "the libraries, in the file's order",
                                  "content": {"application/json": {"schema": {
                                      "$ref": "#/components/schemas/Libraries"}}}}},
        }
    }  # fmt: skip
    paths["/api/network/today/stream"] = {
        "get": {
            "operationId": "network_today_stream",
            "tags": ["Network"],
            "summary": "Every library's count today, live (Server-Sent Events)",
            "description": (
                "`init` {libraries: {slug: n}, total} on every connection, `update` {slug, "
                "total, network_total} whenever a library's count changes."
            ),
            "responses": {"200": {"description": "an event stream", "content": EVENT_STREAM}},
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "tags": ["Operations"],
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Prometheus text format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }
    }  # fmt: skip
    return result
