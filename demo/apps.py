from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo library"

    def ready(self) -> None:
        """The live check-ins' schedule is synced when beat starts."""
        from celery.signals import beat_init

        from demo.schedules import sync_demo_schedule_on_beat_start

        beat_init.connect(sync_demo_schedule_on_beat_start, dispatch_uid="libdash.demo.beat")
