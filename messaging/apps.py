from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        # Also registers the SMS gateway with the start-up check (groupflier.backends).
        from messaging.gateways.state import gateway_resumed
        from messaging.signals import send_waiting_deliveries

        gateway_resumed.connect(send_waiting_deliveries, dispatch_uid="send-waiting-deliveries")
