from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # Registers the payment backend with the start-up check (groupflier.backends).
        import accounts.payments.base  # noqa: F401
