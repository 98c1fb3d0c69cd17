"""Snapshot endpoints: cache-only, bytes straight from Redis, 202 while warming, 304 on match."""

from __future__ import annotations

import contextlib
import json

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.http import http_date, parse_etags
from django.views.decorators.http import require_safe
from django_redis import get_redis_connection
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from redis.exceptions import RedisError
from rest_framework import serializers
from rest_framework.views import APIView

from metrics_cache import keys, schema, snapshots
from metrics_cache.health import report as health_report
from metrics_cache.monitoring import count_outcome
from metrics_cache.registry import BY_NAME, METRICS, Metric
from metrics_cache.tasks import queue_refresh

CACHE_CONTROL = "public, max-age=60"
PRIVATE_CACHE = "private, max-age=60"


def warming_response(metric: str, **extra) -> JsonResponse:
    queue_refresh(metric)
    body = {
        "status": "warming",
        "message": f"{metric} cache not ready",
        "retry_after_seconds": keys.RETRY_AFTER_SECONDS,
        **extra,
    }
    response = JsonResponse(body, status=202)
    response["Retry-After"] = str(keys.RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def audience(request) -> str:
    """Staff (session or API token) see members in full; everyone else per MEMBER_DETAILS."""
    user = getattr(request, "user", None)
    return snapshots.STAFF if user is not None and user.is_staff else snapshots.PUBLIC


def read_snapshot(metric: Metric, viewer: str) -> snapshots.Stored | None:
    """From Redis; while Redis is unreachable, the last good copy in the service's database."""
    try:
        return snapshots.read(metric.name, viewer)
    except RedisError:
        return snapshots.read_last_good(metric, viewer)


def _etag_matches(request, etag: str) -> bool:
    """If-None-Match as RFC 9110 (13.1.2) has it: `*`, or a list of tags compared weakly."""
    tags = parse_etags(request.headers.get("If-None-Match", ""))
    return tags == ["*"] or etag.removeprefix("W/") in {t.removeprefix("W/") for t in tags}


class SnapshotView(APIView):
    """One registry metric, served from Redis only."""

    metric: Metric

    def get(self, request) -> HttpResponse:
        viewer = audience(request)
        stored = read_snapshot(self.metric, viewer)
        if stored is None:
            count_outcome(self.metric.name, "warming")
            return warming_response(self.metric.name)
        headers = {
            "ETag": stored.etag,
            "Last-Modified": http_date(stored.generated_at.timestamp()),
            "Cache-Control": CACHE_CONTROL if viewer == snapshots.PUBLIC else PRIVATE_CACHE,
            "Vary": "Cookie, Authorization",
        }
        if _etag_matches(request, stored.etag):
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
            200: schema.envelope(metric.name, metric.item, metric.many),
            202: schema.WARMING,
            304: schema.NOT_MODIFIED,
        },
    )
    def get(self, request) -> HttpResponse:
        return SnapshotView.get(self, request)

    name = f"{metric.name.title().replace('_', '')}View"
    return type(name, (SnapshotView,), {"metric": metric, "get": get})


class SummaryView(APIView):
    """Several snapshots in one answer, itself cached for SUMMARY_TTL_SECONDS."""

    kind: str
    parts: dict[str, str]  # answer field -> metric name
    with_today: bool = False

    def get(self, request) -> HttpResponse:
        client = get_redis_connection("default")
        viewer = audience(request)
        headers = {"Vary": "Cookie, Authorization", "Cache-Control": "no-cache"}
        cache_key = keys.summary(self.kind + snapshots.copy_name(viewer))
        with contextlib.suppress(RedisError):
            cached = client.get(cache_key)
            if cached is not None:
                return HttpResponse(cached, content_type="application/json", headers=headers)
        answer, missing = self._compose(client, viewer)
        if missing:
            extra = {"today": answer["today"]} if answer.get("today") is not None else {}
            for metric in missing[1:]:
                queue_refresh(metric)
            return warming_response(missing[0], **extra)
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        with contextlib.suppress(RedisError):
            client.set(cache_key, body, ex=keys.summary_ttl_seconds())
        return HttpResponse(body, content_type="application/json", headers=headers)

    def _compose(self, client, viewer: str) -> tuple[dict, list[str]]:
        answer: dict = {}
        sources, missing = [], []
        if self.with_today:
            # Today's count comes from the fast loop's cache entry; the snapshots are the parts.
            try:
                today = client.get(keys.today_count())
            except RedisError:
                today = None
            answer["today"] = json.loads(today)["total"] if today else None
            sources.append("today:cache" if today else "today:missing")
        for field, metric in self.parts.items():
            stored = read_snapshot(BY_NAME[metric], viewer)
            if stored is None:
                missing.append(metric)
                sources.append(f"{field}:missing")
                continue
            answer[field] = json.loads(stored.body)["data"]
            sources.append(f"{field}:cache")
        answer["generated_at"] = timezone.localtime().isoformat(timespec="milliseconds")
        if self.with_today:
            answer["source"] = ",".join(sources)
        return answer, missing


def _summary_shape(name: str, fields: dict[str, str], with_today: bool):
    by_name = {metric.name: metric for metric in METRICS}
    shape = {
        field: by_name[metric].item(many=by_name[metric].many) for field, metric in fields.items()
    }
    if with_today:
        shape["today"] = serializers.IntegerField(allow_null=True)
        shape["source"] = serializers.CharField(help_text="e.g. today:cache,weekly:cache,...")
    shape["generated_at"] = serializers.DateTimeField()
    return {200: inline_serializer(name, shape), 202: schema.WARMING}


VISITOR_PARTS = {
    "weekly": "weekly",
    "monthly": "monthly",
    "yearly": "yearly",
    "top_month": "top_visitors_month",
    "top_year": "top_visitors_year",
}
BOOK_PARTS = {
    "collection": "collection",
    "top_borrowed": "top_borrowed",
    "top_borrowed_month": "top_borrowed_month",
    "top_borrowed_year": "top_borrowed_year",
    "top_borrowers_month": "top_borrowers_month",
    "top_borrowers_year": "top_borrowers_year",
}


@extend_schema_view(
    get=extend_schema(
        tags=["Visitors"],
        summary="Today, weekly, monthly, yearly and top visitors",
        responses=_summary_shape("VisitorSummary", VISITOR_PARTS, True),
    )
)
class VisitorSummaryView(SummaryView):
    kind = "visitors"
    with_today = True
    parts = VISITOR_PARTS


@extend_schema_view(
    get=extend_schema(
        tags=["Books"],
        summary="Collection and every top list of books and borrowers",
        responses=_summary_shape("BookSummary", BOOK_PARTS, False),
    )
)
class BookSummaryView(SummaryView):
    kind = "books"
    parts = BOOK_PARTS


@require_safe
def health(request):
    status, body = health_report()
    return JsonResponse(body, status=status, headers={"Cache-Control": "no-store"})


def not_found(request, exception=None):
    return JsonResponse({"status": "not_found", "message": "no such endpoint"}, status=404)


def bad_request(request, exception=None):
    return JsonResponse({"status": "bad_request", "message": "malformed request"}, status=400)


def forbidden(request, exception=None):
    return JsonResponse({"status": "forbidden", "message": "not allowed"}, status=403)


def server_error(request):
    return JsonResponse({"status": "error", "message": "internal error"}, status=500)
