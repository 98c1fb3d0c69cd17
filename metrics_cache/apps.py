from django.apps import AppConfig


class MetricsCacheConfig(AppConfig):
    name = "metrics_cache"
    verbose_name = "Snapshots"

    def ready(self) -> None:
        """System checks and signal handlers, connected here rather than at import."""
        from celery.signals import (
            beat_init,
            before_task_publish,
            task_received,
            task_revoked,
            worker_ready,
        )
        from django.core.checks import Tags, register
        from django.db.backends.signals import connection_created

        from config import connections
        from metrics_cache.operations import checks, host_slots, schedules, transit

        connections.install()
        register(checks.configuration_checks)
        register(checks.library_tables_check, Tags.database)
        beat_init.connect(schedules.sync_schedules_on_beat_start, dispatch_uid="libdash.beat")
        connection_created.connect(
            host_slots.limit_library_connections, dispatch_uid="libdash.host_slots"
        )
        worker_ready.connect(schedules.prewarm_on_start, dispatch_uid="libdash.prewarm")
        before_task_publish.connect(transit.on_publish, dispatch_uid="libdash.transit.sent")
        task_received.connect(transit.on_received, dispatch_uid="libdash.transit.received")
        task_revoked.connect(transit.on_received, dispatch_uid="libdash.transit.revoked")
