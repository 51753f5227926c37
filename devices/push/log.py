"""The default push backend for local use: records each push in the push outbox and logs it.

Read the outbox in the admin. Nothing leaves the machine.
"""

import logging

from devices.models import PushOutboxEntry
from devices.push.base import Notification, PushBackend

logger = logging.getLogger("groupflier.push.log")


class LogBackend(PushBackend):
    def send(self, token: str, notification: Notification) -> str:
        entry = PushOutboxEntry.objects.create(
            service=self.service,
            token=token,
            title=notification.title,
            body=notification.body,
            data=notification.data,
        )
        logger.info("Push via %s to %s: %s", self.service, token, notification.body)
        return f"log-{entry.pk}"


# The short name log in settings stands for this class.
Backend = LogBackend
