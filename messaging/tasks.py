import logging

from celery import shared_task
from django.db.models import F

from messaging.gateways.base import GatewayError, get_gateway
from messaging.models import OutboundSms

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
Status = OutboundSms.Status


def backoff_seconds(attempt: int) -> int:
    return min(2**attempt, 60)


@shared_task(bind=True, max_retries=MAX_ATTEMPTS)
def send_outbound_sms(self, sms_id: int) -> None:
    """Send one system text. Safe to run twice: only the run that claims it sends it."""
    claimed = OutboundSms.objects.filter(pk=sms_id, status=Status.QUEUED).update(
        status=Status.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return
    sms = OutboundSms.objects.get(pk=sms_id)
    try:
        get_gateway().send(sms.to, sms.text, from_number=sms.from_number)
    except GatewayError as exc:
        final = exc.permanent or sms.attempts >= MAX_ATTEMPTS
        OutboundSms.objects.filter(pk=sms_id, status=Status.SENDING).update(
            status=Status.FAILED if final else Status.QUEUED, error=exc.reason[:200]
        )
        if final:
            logger.warning("SMS %s to %s failed: %s", sms_id, sms.to, exc.reason)
            return
        raise self.retry(countdown=backoff_seconds(sms.attempts)) from None
    OutboundSms.objects.filter(pk=sms_id, status=Status.SENDING).update(
        status=Status.SENT, error=""
    )
