"""The default gateway for local use: records each text in the outbox table and logs it.

Read it with ``python manage.py outbox`` or in the admin.
"""

import logging

from messaging.gateways.base import BaseGateway
from messaging.models import OutboxMessage

logger = logging.getLogger("groupflier.sms.console")


class ConsoleGateway(BaseGateway):
    def send_part(self, to: str, part: str, *, from_number: str = "", sender_name: str = "") -> str:
        text = f"{sender_name}: {part}" if sender_name else part
        record = OutboxMessage.objects.create(to=to, from_number=from_number, text=text)
        # Not the text: a PIN in it must stay on the phone (the outbox), out of the logs.
        logger.info("SMS from %s to %s (%s characters)", from_number or "-", to, len(text))
        return f"console-{record.pk}"


# The short name console in settings stands for this class.
Gateway = ConsoleGateway
