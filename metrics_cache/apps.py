from django.apps import AppConfig


class MetricsCacheConfig(AppConfig):
    name = "metrics_cache"
    verbose_name = "Snapshots"
