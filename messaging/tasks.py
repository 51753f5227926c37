"""The messaging pipeline's Celery tasks. Sending and sweeping are the row pipeline's
(``groupflier.pipeline``); the names here are kept for tasks already in a broker."""

import logging

from celery import shared_task
from django.utils import timezone

from groupflier.pipeline import rows
from groupflier.pipeline.tasks import sweep_rows

logger = logging.getLogger(__name__)


@shared_task
def send_outbound_sms(sms_id: int) -> None:
    """Send one system text (queued before system texts went in batches)."""
    rows.process(rows.get("texts"), [sms_id])


@shared_task
def fan_out(message_id: int) -> None:
    """Create a message's delivery rows and queue their sending in batches, a chunk at a time
    so that the first texts leave while the rest are planned; then settle the cost held at
    acceptance to what is really sent. Safe to run twice: rows exist once (unique per message,
    recipient and part), sends are claimed, the settlement is posted once."""
    from messaging import fanout
    from messaging.models import Message

    message = Message.objects.select_related("group").get(pk=message_id)
    if message.fanned_out_at is None:
        for queued in fanout.plan(message):
            fanout.queue_sends(queued)
        fanout.settle_planned(message)
        Message.objects.filter(pk=message_id, fanned_out_at=None).update(
            fanned_out_at=timezone.now()
        )
    else:  # planned before: what is still queued may have lost its task
        fanout.queue_sends(fanout.queued_ids(message_id))


@shared_task
def send_deliveries(delivery_ids: list[int]) -> None:
    """Hand a batch of delivery parts to the gateway (queued before batches were sent by
    ``groupflier.pipeline.tasks.send_rows``)."""
    rows.process(rows.get("deliveries"), delivery_ids)


@shared_task
def sweep_deliveries() -> dict:
    """The periodic safety net, by its former name: every pipeline's sweep."""
    return sweep_rows()


@shared_task
def send_due_scheduled() -> int:
    """Beat runs this every few seconds; any number of copies may run at once."""
    from messaging.schedule import send_due

    return send_due()
