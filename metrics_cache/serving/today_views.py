"""Today's count over HTTP: the cached figure, the kiosks' increment, and the SSE stream."""

from __future__ import annotations

import hmac
import json
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django_eventstream.eventrequest import EventRequest
from django_eventstream.utils import add_default_headers, sse_encode_event
from django_eventstream.views import Listener, stream
from drf_spectacular.utils import OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework import serializers
from rest_framework.views import APIView

from config.library import current
from metrics_cache.base import keys
from metrics_cache.serving import answers, fanout, openapi
from metrics_cache.serving.errors import error_response, require_safe_json
from metrics_cache.today import modes
from metrics_cache.today.current import current_today
from metrics_cache.today.lock import LoopBusy
from metrics_cache.today.publishing import published

logger = logging.getLogger(__name__)


def _unavailable() -> JsonResponse:
    return JsonResponse(
        {"status": "unavailable", "message": "today's count is unavailable; try again shortly"},
        status=503,
        headers={"Retry-After": str(keys.RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


class TodaySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["cache", "db"])
    date = serializers.DateField()
    generated_at = serializers.DateTimeField()


class TodayView(APIView):
    @extend_schema(
        tags=["Visitors"],
        summary="Today's visitor count (live)",
        responses={200: TodaySerializer, 503: openapi.UNAVAILABLE},
    )
    def get(self, request):
        value, source = current_today()
        if value is None:
            return _unavailable()
        body = answers.today_body(value, source)
        return HttpResponse(body, content_type="application/json", headers=answers.TODAY_HEADERS)


class IncrementSerializer(serializers.Serializer):
    by = serializers.IntegerField(min_value=1, max_value=100, default=1)


class TodayIncrementView(APIView):
    """Check-in kiosks raise the count in incremental mode."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        tags=["Visitors"],
        summary="Raise today's count (incremental mode, for check-in kiosks)",
        request=IncrementSerializer,
        responses={200: TodaySerializer, 400: openapi.BAD_REQUEST,
                   401: OpenApiResponse(openapi.Problem, description="no token"),
                   403: OpenApiResponse(openapi.Problem, description="wrong token"),
                   409: OpenApiResponse(openapi.Problem, description="not in incremental mode"),
                   503: openapi.UNAVAILABLE},
    )  # fmt: skip
    def post(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Token "):
            return JsonResponse({"status": "unauthorized", "message": "Token required"},
                                status=401, headers={"WWW-Authenticate": "Token"})  # fmt: skip
        token = settings.TODAY_INCREMENT_TOKEN
        if not token or not hmac.compare_digest(header[6:].strip().encode(), token.encode()):
            return JsonResponse({"status": "forbidden", "message": "invalid token"}, status=403)
        mode = modes.configured()
        if not mode.accepts_increments:
            return JsonResponse(
                {"status": "conflict", "message": "TODAY_COUNT_MODE is not incremental"},
                status=409,
            )
        body = IncrementSerializer(data=request.data if request.data else {})
        if not body.is_valid():
            return error_response(400, "invalid body", word="invalid", errors=body.errors)
        day = timezone.localdate()
        try:
            total = mode.increment(day, body.validated_data["by"])
        except (RedisError, DatabaseError, LoopBusy):
            return _unavailable()
        value = published() or {"total": total, "date": day.isoformat()}
        return JsonResponse({**value, "source": "cache"})


@require_safe_json
async def today_stream(request):
    """SSE: `init` with the current count on every connection, then django-eventstream's stream
    (updates fanned in from Redis by serving.fanout, keep-alive every 20 s)."""
    try:
        event_request = await sync_to_async(EventRequest)(
            request, view_kwargs={"channels": [fanout.channel(current().slug)]}
        )
    except Exception as exc:  # a garbage Last-Event-ID or es-meta is the client's error
        return JsonResponse({"status": "invalid", "message": f"bad stream request: {exc}"[:200]},
                            status=400)  # fmt: skip
    fanout.ensure_running()
    value, source = await sync_to_async(current_today)()
    init = {
        "total": value["total"] if value else None,
        "source": source,
        "at": timezone.localtime().isoformat(timespec="milliseconds"),
    }
    listener = Listener()
    listener.user_id = "anonymous"
    listener.channels = event_request.channels

    async def events():
        yield sse_encode_event("init", json.dumps(init))
        caught_up = False
        async for chunk in stream(event_request, listener):
            yield chunk
            if not caught_up:
                # The listener is registered only now; an update published since `init` was
                # read went to nobody (there is no event storage to replay), so send it.
                caught_up = True
                latest = await sync_to_async(published)()
                if latest and latest["total"] != init["total"]:
                    update = {"total": latest["total"], "generated_at": latest["generated_at"]}
                    yield sse_encode_event("update", json.dumps(update))

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    add_default_headers(response, request=request)
    return response
