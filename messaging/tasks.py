import logging

from celery import shared_task
from django.db.models import F
from django.utils import timezone

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
    # .update() bypasses auto_now: every status change sets updated_at itself.
    claimed = OutboundSms.objects.filter(pk=sms_id, status=Status.QUEUED).update(
        status=Status.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    if not claimed:
        return
    sms = OutboundSms.objects.get(pk=sms_id)
    try:
        get_gateway().send(sms.to, sms.text, from_number=sms.from_number)
    except GatewayError as exc:
        final = exc.permanent or sms.attempts >= MAX_ATTEMPTS
        OutboundSms.objects.filter(pk=sms_id, status=Status.SENDING).update(
            status=Status.FAILED if final else Status.QUEUED,
            error=exc.reason[:200],
            updated_at=timezone.now(),
        )
        if final:
            logger.warning("SMS %s to %s failed: %s", sms_id, sms.to, exc.reason)
            return
        raise self.retry(countdown=backoff_seconds(sms.attempts)) from None
    OutboundSms.objects.filter(pk=sms_id, status=Status.SENDING).update(
        status=Status.SENT, error="", updated_at=timezone.now()
    )


# --- Group messages ----------------------------------------------------------------------------


@shared_task
def fan_out(message_id: int) -> None:
    """Create a message's delivery rows and queue their sending in batches, a chunk at a time
    so that the first texts leave while the rest are planned. Safe to run twice: rows exist
    once (unique per message, recipient and part) and sends are claimed."""
    from django.utils import timezone

    from messaging import fanout
    from messaging.models import Message

    message = Message.objects.select_related("group").get(pk=message_id)
    if message.fanned_out_at is None:
        for queued in fanout.plan(message):
            queue_sends(queued)
        Message.objects.filter(pk=message_id, fanned_out_at=None).update(
            fanned_out_at=timezone.now()
        )
    else:  # planned before: what is still queued may have lost its task
        queue_sends(fanout.queued_ids(message_id))


def queue_sends(delivery_ids: list[int]) -> None:
    """One ``send_deliveries`` task per GROUPFLIER_DELIVERY_BATCH parts."""
    from django.conf import settings

    size = settings.GROUPFLIER_DELIVERY_BATCH
    for start in range(0, len(delivery_ids), size):
        send_deliveries.delay(delivery_ids[start : start + size])


@shared_task
def send_deliveries(delivery_ids: list[int]) -> None:
    """Hand a batch of delivery parts to the gateway, each claimed before its hand-off."""
    from messaging import fanout

    result = fanout.send_batch(delivery_ids)
    if result.retry:
        # Short countdowns only: a long ETA on Redis outlives the visibility timeout.
        countdown = backoff_seconds(result.highest_attempt)
        send_deliveries.apply_async((result.retry,), countdown=countdown)
    # Parts in result.waiting stay queued for a paused gateway: resuming it hands them over
    # (messaging.signals), and the sweep would find them too. Polling would only spin.


@shared_task
def sweep_deliveries() -> dict:
    """The periodic safety net of the pipeline; see ``messaging.fanout.sweep``."""
    from messaging import fanout

    found = fanout.sweep()
    stale = found["requeued"]
    queue_sends(stale)
    if found["sent"] or found["unknown"] or stale:
        logger.warning(
            "Delivery sweep: %s found sent, %s marked unknown, %s queued again",
            found["sent"],
            found["unknown"],
            len(stale),
        )
    return {"sent": found["sent"], "unknown": found["unknown"], "requeued": len(stale)}


@shared_task
def send_due_scheduled() -> int:
    """Beat runs this every few seconds; any number of copies may run at once."""
    from messaging.schedule import send_due

    return send_due()
