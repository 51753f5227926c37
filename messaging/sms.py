"""Queueing the service's own texts (PINs, welcomes, replies). They are free (SPEC §5)."""

from django.db import transaction

from groupflier.api import throttles
from groups.models import PoolNumber
from members.models import Member
from messaging.models import OutboundSms

# Texts the budget of SPEC §6 holds per destination number; PINs have their own.
NOTICE_KINDS = (OutboundSms.Kind.WELCOME, OutboundSms.Kind.NOTICE)


def queue_system_sms(to: str, text: str, kind: str, *, from_number: str = "") -> OutboundSms:
    """Record the text and queue its sending once the surrounding transaction commits; or
    record it skipped, with the reason, when it must not go."""
    from messaging.tasks import send_outbound_sms

    sms = OutboundSms.objects.create(to=to, text=text, kind=kind, from_number=from_number)
    reason = why_not_send(to, kind)
    if reason is not None:
        OutboundSms.objects.filter(pk=sms.pk).update(
            status=OutboundSms.Status.SKIPPED, error=reason[:200]
        )
        sms.status, sms.error = OutboundSms.Status.SKIPPED, reason[:200]
        return sms
    transaction.on_commit(lambda: send_outbound_sms.delay(sms.pk))
    return sms


def why_not_send(to: str, kind: str) -> str | None:
    """Why a system text to ``to`` is held back (SPEC §3, §6), or None when it may go."""
    if PoolNumber.objects.filter(number=to).exists():
        return "a service pool number: texting it would loop"
    if Member.objects.filter(number=to, blocked=True).exists():
        return "the number has opted out (STOP)"
    if kind in NOTICE_KINDS:
        return throttles.notice_refusal(to)
    return None
