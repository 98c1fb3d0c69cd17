"""/health and /metrics."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from metrics_cache.operations.health import deployment_report, report
from metrics_cache.operations.metrics import REGISTRY
from metrics_cache.serving.errors import require_safe_json


@require_safe_json
def health(request):
    # /l/<slug>/health is that library's; /health the deployment's.
    prefixed = bool(request.META.get("SCRIPT_NAME"))
    status, body = report() if prefixed else deployment_report()
    return JsonResponse(body, status=status, headers={"Cache-Control": "no-store"})


@require_safe_json
def metrics_view(request) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
