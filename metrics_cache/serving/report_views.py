"""The report endpoints: parameters checked (400 naming one), 202 while the rollups' first
build runs, then JSON, CSV or XLSX with an ETag (304 on match)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from config import library
from metrics_cache.base import keys
from metrics_cache.reports import formats, params
from metrics_cache.reports.answers import (
    Answer,
    Building,
    annual_answer,
    answer,
    circulation_answer,
)
from metrics_cache.reports.catalog import reports
from metrics_cache.reports.catalog import sources as catalog_sources
from metrics_cache.serving import openapi
from metrics_cache.serving.answers import (
    CACHE_CONTROL,
    CACHE_CONTROL_HEADER,
    RETRY_AFTER,
    VARY,
    etag_matches,
)
from metrics_cache.serving.errors import error_response

# Circulation changes with every fold: a client asks again rather than keep it a minute.
CIRCULATION_CACHE = "public, no-cache"
# Header names (HTTP's are case-insensitive); a report varies with the credentials and with the
# language (an XLSX's headers).
ETAG_HEADER, VARY_HEADER, IF_NONE_MATCH = "ETag", "Vary", "If-None-Match"
REPORT_VARY = VARY + ", Accept-Language"


class ReportsAccess(BasePermission):
    """REPORTS_ACCESS: `public`, or `staff` (401 without credentials, 403 for non-staff)."""

    def has_permission(self, request, view) -> bool:
        if settings.REPORTS_ACCESS == "public":
            return True
        return bool(request.user and request.user.is_staff)


def building_response(building: Building) -> JsonResponse:
    seconds = keys.REPORT_BUILDING_RETRY_SECONDS
    body = {"status": "building", "progress": building.progress, "retry_after_seconds": seconds}
    response = JsonResponse(body, status=202)
    response[RETRY_AFTER] = str(seconds)
    response[CACHE_CONTROL_HEADER] = "no-store"
    return response


def library_name() -> str:
    return library.name()


def render(result: Answer, fmt: str) -> bytes:
    if fmt == "csv":
        return formats.as_csv(result.body)
    if fmt == "xlsx":
        network = "libraries" in result.body  # the network's report: every library's
        return formats.as_xlsx(result.body, _("All libraries") if network else library_name())
    return result.json


def respond(request, result: Answer | Building, fmt: str, *, cache: str) -> HttpResponse:
    """A computed report in `fmt`, with its ETag (304 on match)."""
    if isinstance(result, Building):
        return building_response(result)
    # An XLSX's headers are in the request's language: the tag names the format and language.
    etag = f'"{result.etag}-{fmt}-{translation.get_language()}"'
    if settings.REPORTS_ACCESS != "public":
        cache = cache.replace("public", "private")
    headers = {ETAG_HEADER: etag, VARY_HEADER: REPORT_VARY, CACHE_CONTROL_HEADER: cache}
    if etag_matches(request.headers.get(IF_NONE_MATCH), etag):
        return HttpResponse(status=304, headers=headers)
    if fmt != "json":
        name = formats.file_name(result.body, fmt)
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return HttpResponse(
        render(result, fmt), content_type=formats.CONTENT_TYPES[fmt], headers=headers
    )


class ReportsView(APIView):
    # The token's scheme first: a request with neither is told so with a 401 and
    # WWW-Authenticate, a non-staff user gets a 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [ReportsAccess]


class ReportView(ReportsView):
    """One report over a period (metrics_cache.reports.catalog)."""

    report: str

    def get(self, request) -> HttpResponse:
        today = timezone.localdate()
        try:
            query = params.parse(reports()[self.report], request.GET, today)
        except params.BadParameter as exc:
            return error_response(400, str(exc), parameter=exc.name)
        return respond(request, answer(query), query.format, cache=CACHE_CONTROL)


class AnnualView(ReportsView):
    @extend_schema(
        operation_id="report_annual",
        summary="The year's figures (census, IPLM, accreditation)",  # pragma: no mutate
        tags=["Reports"],
        parameters=[
            OpenApiParameter("year", int, description="default: this year (to yesterday)"),
            OpenApiParameter("compare", str, enum=list(params.COMPARES)),
            OpenApiParameter("format", str, enum=list(params.FORMATS)),
        ],
        responses={
            200: OpenApiResponse(description="the annual figures"),
            202: OpenApiResponse(description="the rollups' first build is running"),
            304: openapi.NOT_MODIFIED,
            400: openapi.BAD_REQUEST,
        },
    )
    def get(self, request) -> HttpResponse:
        today = timezone.localdate()
        try:
            query = params.parse_annual(request.GET, today)
        except params.BadParameter as exc:
            return error_response(400, str(exc), parameter=exc.name)
        result = annual_answer(query, today, catalog_sources())
        return respond(request, result, query.format, cache=CACHE_CONTROL)


class CirculationView(ReportsView):
    @extend_schema(
        operation_id="report_circulation",
        summary="On loan and overdue now, lent and returned today",  # pragma: no mutate
        tags=["Reports"],
        parameters=[OpenApiParameter("format", str, enum=list(params.FORMATS))],
        responses={
            200: OpenApiResponse(description="the circulation figures"),
            202: OpenApiResponse(description="not computed yet"),
            304: openapi.NOT_MODIFIED,
            400: openapi.BAD_REQUEST,
        },
    )
    def get(self, request) -> HttpResponse:
        try:
            fmt = params.parse_format(request.GET)
        except params.BadParameter as exc:
            return error_response(400, str(exc), parameter=exc.name)
        return respond(request, circulation_answer(), fmt, cache=CIRCULATION_CACHE)


_BUILDING = inline_serializer(
    "ReportBuilding",
    {
        "status": serializers.CharField(),
        "progress": serializers.FloatField(),
        "retry_after_seconds": serializers.IntegerField(),
    },
)
_ENVELOPE = inline_serializer(
    "ReportEnvelope",
    {
        "report": serializers.CharField(),
        "by": serializers.CharField(),
        "period": inline_serializer(
            "ReportPeriod", {"from": serializers.DateField(), "to": serializers.DateField()}
        ),
        "generated_at": serializers.DateTimeField(),
        "total": serializers.IntegerField(),
        "previous_total": serializers.IntegerField(required=False),
        "data": serializers.ListField(child=serializers.DictField()),
    },
)


def report_view(name: str) -> type[ReportView]:
    """A view class for one report, documented with its parameters."""
    report = reports()[name]
    date_help = "YYYY-MM-DD, a closed day (yesterday at the latest)"  # pragma: no mutate

    @extend_schema(
        operation_id=f"report_{name}",
        summary=f"The {name} report over a period of closed days",  # pragma: no mutate
        tags=["Reports"],
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description=date_help),
            OpenApiParameter("to", OpenApiTypes.DATE, description=date_help),
            OpenApiParameter("by", str, enum=list(report.bys)),
            OpenApiParameter("compare", str, enum=list(params.COMPARES)),
            OpenApiParameter("format", str, enum=list(params.FORMATS)),
        ],
        responses={
            200: _ENVELOPE,
            202: OpenApiResponse(_BUILDING, description="the rollups' first build is running"),
            304: openapi.NOT_MODIFIED,
            400: openapi.BAD_REQUEST,
        },
    )
    def get(self, request) -> HttpResponse:
        return ReportView.get(self, request)

    return type(f"{name.title()}ReportView", (ReportView,), {"report": name, "get": get})
