"""URLs: every snapshot path from the registry, the summaries, health, docs and the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from metrics_cache.operations.views import health, metrics_view
from metrics_cache.serving.network_views import (
    NetworkAnnualView,
    libraries_view,
    network_page,
    network_report_view,
)
from metrics_cache.serving.pages import dashboard, reports_page
from metrics_cache.serving.report_views import AnnualView, CirculationView, report_view
from metrics_cache.serving.today_views import TodayIncrementView, TodayView, today_stream
from metrics_cache.serving.views import BookSummaryView, VisitorSummaryView, snapshot_view
from metrics_cache.snapshots import summaries
from metrics_cache.snapshots.registry import METRICS

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("reports", reports_page, name="reports"),
    path("api/visitors/today", TodayView.as_view()),
    path("api/visitors/today/increment", TodayIncrementView.as_view()),
]
if settings.ENABLE_SSE_TODAY:
    urlpatterns.append(path("api/visitors/today/stream", today_stream))
urlpatterns += [
    path(route, snapshot_view(metric, route, deprecated=index > 0).as_view())
    for metric in METRICS
    for index, route in enumerate(metric.paths)
]
urlpatterns += [
    path(summaries.path(summaries.VISITORS), VisitorSummaryView.as_view()),
    path(summaries.path(summaries.BOOKS), BookSummaryView.as_view()),
    path("api/reports/visits", report_view("visits").as_view()),
    path("api/reports/loans", report_view("loans").as_view()),
    path("api/reports/annual", AnnualView.as_view()),
    path("api/reports/circulation", CirculationView.as_view()),
    path("api/libraries", libraries_view),
    path("api/network/reports/annual", NetworkAnnualView.as_view()),
    path("api/network/reports/visits", network_report_view("visits").as_view()),
    path("api/network/reports/loans", network_report_view("loans").as_view()),
    path("network", network_page, name="network"),
    path("health", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
if settings.ENABLE_DOCS:
    urlpatterns += [
        path("docs/json", SpectacularJSONAPIView.as_view(), name="schema"),
        path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    ]

handler400 = "metrics_cache.serving.views.bad_request"
handler403 = "metrics_cache.serving.views.forbidden"
handler404 = "metrics_cache.serving.views.not_found"
handler500 = "metrics_cache.serving.views.server_error"
