from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"

    def ready(self):
        from django.db.models.signals import post_delete

        from members.models import ApiSession
        from members.sessions import session_ended

        post_delete.connect(session_ended, sender=ApiSession, dispatch_uid="session-ended")
