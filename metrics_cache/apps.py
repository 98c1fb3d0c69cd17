from django.apps import AppConfig


class MetricsCacheConfig(AppConfig):
    name = "metrics_cache"
    verbose_name = "Snapshots"

    def ready(self) -> None:
        # System checks, and signal handlers: start-up prewarm (worker_ready), schedule sync
        # (beat_init).
        from metrics_cache import checks, schedules, tasks  # noqa: F401
