"""Snapshot endpoints: cache-only, bytes straight from Redis, 202 while warming, 304 on match."""

from __future__ import annotations

import contextlib
import json

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from redis.exceptions import RedisError
from rest_framework import serializers
from rest_framework.views import APIView

from metrics_cache.base import keys
from metrics_cache.base.redis import client
from metrics_cache.serving import answers, openapi
from metrics_cache.serving.errors import error_response
from metrics_cache.serving.instruments import count_outcome
from metrics_cache.snapshots import privacy, store, summaries
from metrics_cache.snapshots.registry import BY_NAME, Metric
from metrics_cache.snapshots.tasks import queue_refresh


def warming_response(metric: str, **extra) -> JsonResponse:
    queue_refresh(metric)
    body = {
        "status": "warming",
        "message": f"{metric} cache not ready",
        "retry_after_seconds": keys.RETRY_AFTER_SECONDS,
        **extra,
    }
    response = JsonResponse(body, status=202)
    response[answers.RETRY_AFTER] = str(keys.RETRY_AFTER_SECONDS)
    response[answers.CACHE_CONTROL_HEADER] = "no-store"
    return response


def is_staff(request) -> bool:
    """A DRF request's user: staff by session or API token (anonymous: never staff)."""
    return request.user.is_staff


def audience(request) -> str:
    """Staff (session or API token) see members in full; everyone else per MEMBER_DETAILS,
    read now: a change applies to the next request."""
    return privacy.FULL if is_staff(request) else privacy.anonymous_audience()


def read_snapshot(metric: Metric, viewer: str) -> store.Stored | None:
    """From Redis; while Redis is unreachable, the last good copy in the service's database."""
    try:
        return store.read(metric.name, viewer)
    except RedisError:
        return store.read_last_good(metric, viewer)


class SnapshotView(APIView):
    """One registry metric, served from Redis only."""

    metric: Metric

    def get(self, request) -> HttpResponse:
        viewer = audience(request)
        stored = read_snapshot(self.metric, viewer)
        if stored is None:
            count_outcome(self.metric.name, "warming")
            return warming_response(self.metric.name)
        headers = answers.snapshot_headers(stored, staff=is_staff(request))
        # Header names in any case (Django's request.headers); absent reads as no tag.
        if_none_match = request.headers.get("If-None-Match", "")  # pragma: no mutate
        if answers.etag_matches(if_none_match, stored.etag):
            count_outcome(self.metric.name, "not_modified")
            return HttpResponse(status=304, headers=headers)
        count_outcome(self.metric.name, "hit")
        return HttpResponse(stored.body, content_type="application/json", headers=headers)


def snapshot_view(metric: Metric, route: str, *, deprecated: bool) -> type[SnapshotView]:
    """A view class for one path of a metric, documented from the registry."""

    @extend_schema(
        operation_id=route.replace("/", "_").replace("-", "_") + ("_old" if deprecated else ""),
        summary=metric.title + (" (older path)" if deprecated else ""),
        deprecated=deprecated,
        tags=["Visitors" if metric.group == "visitors" else "Books"],
        responses={
            200: openapi.envelope(metric.name, metric.item, metric.many),
            202: openapi.WARMING,
            304: openapi.NOT_MODIFIED,
        },
    )
    def get(self, request) -> HttpResponse:
        return SnapshotView.get(self, request)

    name = f"{metric.name.title().replace('_', '')}View"  # pragma: no mutate (never shown)
    return type(name, (SnapshotView,), {"metric": metric, "get": get})


class SummaryView(APIView):
    """Several snapshots in one answer, itself cached for SUMMARY_TTL_SECONDS."""

    summary: summaries.Summary

    def get(self, request) -> HttpResponse:
        redis = client()
        viewer = audience(request)
        headers = answers.SUMMARY_HEADERS
        kind = self.summary.kind
        with contextlib.suppress(RedisError):
            cached = redis.get(keys.summary(kind, viewer))
            if cached is not None:
                return HttpResponse(cached, content_type="application/json", headers=headers)
        answer, missing = self._compose(redis, viewer)
        if missing:
            extra = {"today": answer["today"]} if answer.get("today") is not None else {}
            for metric in missing[1:]:
                queue_refresh(metric)
            return warming_response(missing[0], **extra)
        body = json.dumps(
            answer,
            ensure_ascii=False,  # pragma: no mutate (\u escapes or not: the same JSON)
            separators=(",", ":"),
        ).encode()
        with contextlib.suppress(RedisError):
            redis.set(keys.summary(kind, viewer), body, ex=keys.summary_ttl_seconds())
        return HttpResponse(body, content_type="application/json", headers=headers)

    def _compose(self, redis, viewer: str) -> tuple[dict, list[str]]:
        answer: dict = {}
        sources, missing = [], []
        with_today = self.summary.with_today
        if with_today:
            # Today's count comes from the fast loop's cache entry; the snapshots are the parts.
            try:
                today = redis.get(keys.today_count())
            except RedisError:
                today = None  # pragma: no mutate ("" and None both read as no count)
            answer["today"] = json.loads(today)["total"] if today else None
            sources.append("today:cache" if today else "today:missing")
        for field, metric in self.summary.parts.items():
            stored = read_snapshot(BY_NAME[metric], viewer)
            if stored is None:
                missing.append(metric)
                sources.append(f"{field}:missing")
                continue
            answer[field] = json.loads(stored.body)["data"]
            sources.append(f"{field}:cache")
        answer["generated_at"] = timezone.localtime().isoformat(timespec="milliseconds")
        if with_today:
            answer["source"] = ",".join(sources)
        return answer, missing


def _summary_shape(name: str, summary: summaries.Summary):
    shape = {
        field: BY_NAME[metric].item(many=BY_NAME[metric].many)
        for field, metric in summary.parts.items()
    }
    if summary.with_today:
        shape["today"] = serializers.IntegerField(allow_null=True)
        shape["source"] = serializers.CharField(
            help_text="e.g. today:cache,weekly:cache,..."  # pragma: no mutate (wording)
        )
    shape["generated_at"] = serializers.DateTimeField()
    return {200: inline_serializer(name, shape), 202: openapi.WARMING}


@extend_schema_view(
    get=extend_schema(
        tags=["Visitors"],
        summary="Today, weekly, monthly, yearly and top visitors",
        responses=_summary_shape("VisitorSummary", summaries.VISITORS),
    )
)
class VisitorSummaryView(SummaryView):
    summary = summaries.VISITORS


@extend_schema_view(
    get=extend_schema(
        tags=["Books"],
        summary="Collection and every top list of books and borrowers",
        responses=_summary_shape("BookSummary", summaries.BOOKS),
    )
)
class BookSummaryView(SummaryView):
    summary = summaries.BOOKS


def not_found(request, exception=None):
    return error_response(404, "no such endpoint")


def bad_request(request, exception=None):
    return error_response(400, "malformed request")


def forbidden(request, exception=None):
    return error_response(403, "not allowed")


def server_error(request):
    return error_response(500, "internal error")
