"""The pipeline's Celery tasks: one that sends a batch of rows of any kind, one that sweeps
every kind (CELERY_BEAT_SCHEDULE runs it every GROUPFLIER_SWEEP_EVERY seconds)."""

import logging

from celery import shared_task

from groupflier.pipeline import rows

logger = logging.getLogger("groupflier.pipeline")


@shared_task
def send_rows(kind: str, ids: list[int]) -> int:
    """Hand a batch of one kind's rows over, each claimed first. Safe to run twice."""
    return rows.process(rows.get(kind), ids).sent


@shared_task
def sweep_rows() -> dict:
    """The periodic safety net of every pipeline (``rows.sweep``)."""
    found = {}
    for pipeline in rows.pipelines():
        swept = rows.sweep(pipeline)
        rows.queue(pipeline, swept.requeued)
        if swept.sent or swept.unknown or swept.requeued:
            logger.warning(
                "Sweep of %s: %s found sent, %s marked unknown, %s queued again",
                pipeline.kind,
                swept.sent,
                swept.unknown,
                len(swept.requeued),
            )
        found[pipeline.kind] = {
            "sent": swept.sent,
            "unknown": swept.unknown,
            "requeued": len(swept.requeued),
        }
    return found
