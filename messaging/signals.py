from django.conf import settings
from django.db import transaction

from groupflier.pipeline import rows


def send_waiting(sender, gateway, **kwargs):
    """A paused gateway may send again: hand over at once what waited for it, group
    messages' parts and system texts alike."""
    for kind in ("deliveries", "texts"):
        pipeline = rows.get(kind)
        waiting = list(
            pipeline.model.objects.filter(status=rows.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)[: settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT]
        )
        if waiting:
            transaction.on_commit(lambda p=pipeline, w=waiting: rows.queue(p, w))
