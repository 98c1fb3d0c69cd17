from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo library"

    def ready(self) -> None:
        # The live check-ins' schedule is synced when beat starts (beat_init).
        from demo import schedules  # noqa: F401
