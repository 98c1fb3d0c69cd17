"""The Celery app: tasks from every installed app, configured from Django settings (CELERY_*),
each run for one library (config.library_tasks)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery(
    "library_dashboard",
    task_cls="config.library_tasks:LibraryTask",
    # Celery's Django fix-up, closing only the connections a task opened (config.connections).
    fixups=["config.connections:celery_fixup"],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
