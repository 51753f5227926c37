from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        # Register the pipelines of group messages' parts and of system texts (and, through
        # messaging.gateways.base, the SMS gateway with the start-up check: groupflier.backends).
        from django.db.models.signals import post_save

        import messaging.fanout  # noqa: F401
        import messaging.sms  # noqa: F401
        from groups.models import Membership
        from messaging.actions import count_for_newcomer
        from messaging.gateways.state import gateway_resumed
        from messaging.signals import send_waiting

        gateway_resumed.connect(send_waiting, dispatch_uid="send-waiting-deliveries")
        post_save.connect(count_for_newcomer, sender=Membership, dispatch_uid="count-newcomer")
