from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        # Register the pipelines of group messages' parts and of system texts (and, through
        # messaging.gateways.base, the SMS gateway with the start-up check: groupflier.backends).
        import messaging.fanout  # noqa: F401
        import messaging.sms  # noqa: F401
        from messaging.gateways.state import gateway_resumed
        from messaging.signals import send_waiting

        gateway_resumed.connect(send_waiting, dispatch_uid="send-waiting-deliveries")
