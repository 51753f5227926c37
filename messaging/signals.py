from django.conf import settings
from django.db import transaction

from messaging.models import Delivery


def send_waiting_deliveries(sender, gateway, **kwargs):
    """A paused gateway may send again: hand over at once what waited for it."""
    from messaging.tasks import send_deliveries

    waiting = list(
        Delivery.objects.filter(status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)[: settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT]
    )
    batch = settings.GROUPFLIER_DELIVERY_BATCH
    for start in range(0, len(waiting), batch):
        ids = waiting[start : start + batch]
        transaction.on_commit(lambda ids=ids: send_deliveries.delay(ids), robust=True)
