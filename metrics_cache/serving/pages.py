"""The dashboard page: server-rendered, its few labels translated (English, Indonesian)."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _

from metrics_cache.serving.errors import require_safe_json


@require_safe_json
def dashboard(request):
    labels = {
        "today": _("Today"),
        "as_of": _("as of"),
        "warming": _("Preparing the figures…"),
        "unavailable": _("Not available right now; trying again"),
        "nothing_yet": _("Nothing yet in this period"),
        "unknown": _("(name withheld)"),
    }
    config = {
        "stream": "/api/visitors/today/stream" if settings.ENABLE_SSE_TODAY else None,
        "today": "/api/visitors/today",
        "time_zone": settings.LIBRARY_TIME_ZONE,
    }
    return render(request, "metrics_cache/dashboard.html", {"labels": labels, "config": config})
