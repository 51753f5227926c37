"""Queueing the service's own texts (PINs, welcomes, replies). They are free (SPEC §5)."""

from django.db import transaction

from members.models import Member
from messaging.models import OutboundSms


def queue_system_sms(to: str, text: str, kind: str, *, from_number: str = "") -> OutboundSms:
    """Record the text and queue its sending once the surrounding transaction commits."""
    from messaging.tasks import send_outbound_sms

    sms = OutboundSms.objects.create(to=to, text=text, kind=kind, from_number=from_number)
    if Member.objects.filter(number=to, blocked=True).exists():
        OutboundSms.objects.filter(pk=sms.pk).update(
            status=OutboundSms.Status.SKIPPED, error="the number has opted out (STOP)"
        )
        return sms
    transaction.on_commit(lambda: send_outbound_sms.delay(sms.pk))
    return sms
