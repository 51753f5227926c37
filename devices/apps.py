from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"

    def ready(self):
        # Registers the push backends with the start-up check (groupflier.backends).
        import devices.push.base  # noqa: F401
