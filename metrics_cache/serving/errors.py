"""One JSON shape for every error the service answers: {"status": word, "message": sentence}."""

from __future__ import annotations

from functools import wraps

from asgiref.sync import iscoroutinefunction
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler

# The word in "status" for each HTTP status an error may carry (the same words the views use).
STATUS_WORDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
    500: "error",
    503: "unavailable",
}
SAFE_METHODS = ("GET", "HEAD")


def error_response(status: int, message: str, *, word: str | None = None, **extra) -> JsonResponse:
    body = {"status": word or STATUS_WORDS.get(status, "error"), "message": message, **extra}
    return JsonResponse(body, status=status, headers={"Cache-Control": "no-store"})


def method_not_allowed(request, allowed=SAFE_METHODS) -> JsonResponse:
    response = error_response(405, f"method {request.method} not allowed; use {', '.join(allowed)}")
    response["Allow"] = ", ".join(allowed)
    return response


def require_safe_json(view):
    """Django's require_safe, answering 405 in the service's JSON shape (sync or async views)."""
    if iscoroutinefunction(view):

        @wraps(view)
        async def async_inner(request, *args, **kwargs):
            if request.method not in SAFE_METHODS:
                return method_not_allowed(request)
            return await view(request, *args, **kwargs)

        return async_inner

    @wraps(view)
    def inner(request, *args, **kwargs):
        if request.method not in SAFE_METHODS:
            return method_not_allowed(request)
        return view(request, *args, **kwargs)

    return inner


def drf_exception_handler(exc, context):
    """DRF's handler, its {"detail": ...} bodies rewritten to the service's shape. A plain
    JsonResponse, so views with an HTML renderer (Swagger UI) answer errors in JSON too."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        extra = {"errors": response.data}
        message, word = "invalid request", "invalid"
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        extra, message, word = {}, str(detail) or response.status_text, None
    answer = error_response(response.status_code, message, word=word, **extra)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            answer[header] = response[header]
    return answer
