"""URLs: the API, health and the admin."""

from django.contrib import admin
from django.urls import path

from metrics_cache.views import health

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
]
