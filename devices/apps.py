from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"

    def ready(self):
        # Registers the push pipeline, so any process can send and sweep pushes.
        import devices.tasks  # noqa: F401
