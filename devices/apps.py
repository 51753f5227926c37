from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"

    def ready(self):
        # Registers the push pipeline, so any process can send and sweep pushes, and (through
        # devices.push.base) the push backends with the start-up check (groupflier.backends).
        import devices.tasks  # noqa: F401
