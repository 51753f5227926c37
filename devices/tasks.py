"""Pushes go out through the row pipeline (``groupflier.pipeline.rows``), like texts: claimed in
batches, recorded in the hand-off log, retried with backoff, swept when a task was lost."""

from datetime import timedelta

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from devices.actions import notification_for, reason_not_to_push
from devices.models import Device, PushAttempt
from devices.push.base import PushError, get_backend
from groupflier.pipeline import rows

MAX_ATTEMPTS = 6
# News this old is no news: a push still queued then is dropped.
GIVE_UP_AFTER = timedelta(days=1)
Status = PushAttempt.Status


class PushPipeline(rows.Pipeline):
    kind = "pushes"
    model = PushAttempt
    reason_field = "error"
    ref_field = "provider_id"
    errors = (PushError,)

    def max_attempts(self) -> int:
        return MAX_ATTEMPTS

    def prepare(self, parts):
        attempts = PushAttempt.objects.select_related("device")
        return attempts.in_bulk([part.id for part in parts])

    def hand_off(self, part, attempts) -> str:
        attempt = attempts[part.id]
        skip = reason_not_to_push(attempt)
        if skip:
            raise rows.Skip(skip)
        device = attempt.device
        # Decided now, not when queued: a device re-registered since without a sid of its
        # number is no longer trusted with the content.
        with_content = device.verified
        PushAttempt.objects.filter(pk=part.id).update(
            service=device.service, token=device.token, with_content=with_content
        )
        try:
            backend = get_backend(device.service)
        except ImproperlyConfigured as exc:
            raise PushError(f"push backend misconfigured: {exc}", permanent=True) from None
        return backend.send(device.token, notification_for(attempt, with_content))

    def after_sent(self, sent):
        self._mark_devices([pk for pk, _ in sent], Status.SENT, "")

    def after_failed(self, part, error):
        if error is not None and error.unregistered:
            attempt = PushAttempt.objects.get(pk=part.id)
            # Unless the app registered the token again after this push was queued: then the
            # verdict is about the old registration (Apple's own advice for 410).
            removed, _ = Device.objects.filter(
                pk=attempt.device_id, registered_at__lte=attempt.created_at
            ).delete()
            if removed:
                PushAttempt.objects.filter(pk=part.id).update(
                    error=(attempt.error + " (device removed)")[:200]
                )
                return
        reason = PushAttempt.objects.filter(pk=part.id).values_list("error", flat=True).first()
        self._mark_devices([part.id], Status.FAILED, reason or "")

    def extra_sweep(self, now):
        PushAttempt.objects.filter(status=Status.QUEUED, created_at__lt=now - GIVE_UP_AFTER).update(
            status=Status.FAILED, error="still queued a day later; dropped as stale", updated_at=now
        )

    @staticmethod
    def _mark_devices(attempt_ids: list[int], status: str, error: str) -> None:
        Device.objects.filter(pushes__pk__in=attempt_ids).update(
            last_push_at=timezone.now(), last_push_status=status, last_push_error=error[:200]
        )


PIPELINE = rows.register(PushPipeline())


@shared_task
def send_push(attempt_id: int) -> None:
    """Push one message to one device (queued before pushes went in batches)."""
    rows.process(PIPELINE, [attempt_id])
