"""The dashboard and reports pages: server-rendered, their labels translated (English,
Indonesian)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from config import library
from metrics_cache.reports.annual import LABELS as ANNUAL_LABELS
from metrics_cache.serving.errors import require_safe_json


def page_context(request, name: str, labels: dict, config: dict) -> dict:
    """The context of a page of base.html: its labels, settings (with `base`, the library's
    path prefix its API calls take: "" or /l/<slug>), stylesheet and script."""
    return {
        "labels": labels,
        "config": {**config, "base": request.META.get("SCRIPT_NAME", "")},
        # With several libraries the page names the one it shows.
        "library": library.name() if len(library.all_libraries()) > 1 else None,
        "stylesheet": f"metrics_cache/{name}.css",
        "script": f"metrics_cache/{name}.js",
    }


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
        "time_zone": library.time_zone(),
    }
    return render(
        request, "metrics_cache/dashboard.html", page_context(request, "dashboard", labels, config)
    )


@require_safe_json
def reports_page(request):
    """/reports: the reports over a chosen period; staff only when REPORTS_ACCESS=staff."""
    if settings.REPORTS_ACCESS == "staff" and not request.user.is_staff:
        return redirect_to_login(request.get_full_path(), "admin:login")
    today = timezone.localdate()
    labels = {
        "warming": _("Preparing the figures…"),
        "building": _("The service is reading the library's history: %(percent)s done"),
        "unavailable": _("Not available right now; trying again"),
        "total": _("Total"),
        "previous": _("A year earlier"),
        "none": _("(none)"),
        "no_room": _("(no room)"),
        "guests": _("Guests"),
        "no_member": _("Without a member"),
        "as_of": _("as of"),
        "bad_period": _("Choose a period of closed days: from on or before to, to before today."),
        "circulation": {
            "on_loan": _("On loan"),
            "overdue": _("Overdue"),
            "loaned_today": _("Lent today"),
            "returned_today": _("Returned today"),
            "days": _("days overdue"),
        },
        "annual": {key: _(label) for key, label in ANNUAL_LABELS.items()},
    }
    config = {"today": today.isoformat(), "yesterday": (today - timedelta(days=1)).isoformat()}
    return render(
        request, "metrics_cache/reports.html", page_context(request, "reports", labels, config)
    )
