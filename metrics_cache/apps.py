from django.apps import AppConfig


class MetricsCacheConfig(AppConfig):
    name = "metrics_cache"
    verbose_name = "Snapshots"

    def ready(self) -> None:
        # Signal handlers: start-up prewarm (worker_ready) and schedule sync (beat_init).
        from metrics_cache import schedules, tasks  # noqa: F401
