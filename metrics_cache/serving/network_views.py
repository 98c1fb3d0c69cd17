"""The network's endpoints: its libraries, its reports (one row per library and a total), and
its page. Its live stream is served by the edge (serving.edge)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from config.library import all_libraries
from metrics_cache.network import reports as network_reports
from metrics_cache.network.states import listing
from metrics_cache.reports import params
from metrics_cache.reports.annual import LABELS as ANNUAL_LABELS
from metrics_cache.reports.answers import COMPACT_UTF8, Answer
from metrics_cache.serving import openapi
from metrics_cache.serving.answers import CACHE_CONTROL
from metrics_cache.serving.errors import error_response, require_safe_json
from metrics_cache.serving.pages import page_context
from metrics_cache.serving.report_views import ReportsView, respond

NETWORK_STREAM = "/api/network/today/stream"


@require_safe_json
def libraries_view(request):
    """GET /api/libraries: every library, its count today and its state (from Redis only)."""
    return JsonResponse(listing(), safe=False, headers={"Cache-Control": "no-store"})


def _network_answer(request, compute) -> HttpResponse:
    try:
        fmt = params.parse_format(request.GET)
        body = compute(request.GET)
    except params.BadParameter as exc:
        return error_response(400, str(exc), parameter=exc.name)
    return respond(request, Answer(json.dumps(body, **COMPACT_UTF8).encode()), fmt,
                   cache=CACHE_CONTROL)  # fmt: skip


class NetworkAnnualView(ReportsView):
    @extend_schema(
        operation_id="network_report_annual",
        summary="Every library's annual figures and the network's total",  # pragma: no mutate
        tags=["Network"],
        parameters=[
            OpenApiParameter("year", int, description="default: this year (to yesterday)"),
            OpenApiParameter("format", str, enum=list(params.FORMATS)),
        ],
        responses={
            200: OpenApiResponse(description="the network's annual figures"),
            304: openapi.NOT_MODIFIED,
            400: openapi.BAD_REQUEST,
        },
    )
    def get(self, request) -> HttpResponse:
        return _network_answer(request, network_reports.annual_envelope)


def network_report_view(name: str) -> type[ReportsView]:
    class NetworkReportView(ReportsView):
        @extend_schema(
            operation_id=f"network_report_{name}",
            # pragma: no mutate (documentation)
            summary=f"Every library's {name} by month or year, and the network's",
            tags=["Network"],
            parameters=[
                OpenApiParameter("from", str, description="YYYY-MM-DD, a closed day"),
                OpenApiParameter("to", str, description="YYYY-MM-DD, a closed day"),
                OpenApiParameter("by", str, enum=list(network_reports.NETWORK_BYS)),
                OpenApiParameter("format", str, enum=list(params.FORMATS)),
            ],
            responses={
                200: OpenApiResponse(description=f"the network's {name}"),
                304: openapi.NOT_MODIFIED,
                400: openapi.BAD_REQUEST,
            },
        )
        def get(self, request) -> HttpResponse:
            return _network_answer(request, lambda raw: network_reports.period_envelope(name, raw))

    return NetworkReportView


@require_safe_json
def network_page(request):
    """/network: every library's count today, live, the network's total, and the annual
    table with its exports."""
    labels = {
        "total": _("All libraries"),
        "states": {"ok": _("ok"), "degraded": _("delayed"), "unreachable": _("unreachable")},
        "annual": {key: _(label) for key, label in ANNUAL_LABELS.items()},
        "missing": _("Not counted yet"),
        "unavailable": _("Not available right now; trying again"),
    }
    config = {
        "libraries": "/api/libraries",
        "stream": NETWORK_STREAM,
        "annual": "/api/network/reports/annual",
        "year": (timezone.localdate() - timedelta(days=1)).year,
        "count": len(all_libraries()),
    }
    return render(request, "metrics_cache/network.html",
                  page_context(request, "network", labels, config))  # fmt: skip
