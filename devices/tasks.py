import logging
from datetime import timedelta

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from devices.actions import notification_for, reason_not_to_push
from devices.models import Device, PushAttempt
from devices.push.base import PushError, get_backend

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
MAX_BACKOFF = 60
# A claimed push not finished this long after is a worker that died in the hand-off.
STALE_SENDING = timedelta(minutes=10)
# Longer than any retry countdown: a queued push this quiet has lost its task.
STALE_QUEUED = timedelta(minutes=5)
# News this old is no news: a push still queued then is dropped.
GIVE_UP_AFTER = timedelta(days=1)
Status = PushAttempt.Status


def backoff_seconds(attempt: int, retry_after: int | None = None) -> int:
    """Exponential, no sooner than the service asked, and never more than a minute."""
    return min(max(2**attempt, retry_after or 0), MAX_BACKOFF)


def _finish(attempt: PushAttempt, status: str, error: str = "", **fields) -> None:
    now = timezone.now()
    PushAttempt.objects.filter(pk=attempt.pk, status=Status.SENDING).update(
        status=status, error=error[:200], updated_at=now, **fields
    )
    if attempt.device_id and status != Status.SKIPPED:
        Device.objects.filter(pk=attempt.device_id).update(
            last_push_at=now, last_push_status=status, last_push_error=error[:200]
        )


@shared_task(bind=True, max_retries=MAX_ATTEMPTS)
def send_push(self, attempt_id: int) -> None:
    """Push one message to one device. Safe to run twice: only the run that claims it sends."""
    claimed = PushAttempt.objects.filter(pk=attempt_id, status=Status.QUEUED).update(
        status=Status.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    if not claimed:
        return
    attempt = PushAttempt.objects.select_related("device").get(pk=attempt_id)
    skip = reason_not_to_push(attempt)
    if skip:
        _finish(attempt, Status.SKIPPED, skip)
        return
    device = attempt.device
    # Decided now, not when queued: a device re-registered since without a sid of its number
    # is no longer trusted with the content.
    with_content = device.verified
    PushAttempt.objects.filter(pk=attempt_id).update(
        service=device.service, token=device.token, with_content=with_content
    )
    try:
        backend = get_backend(device.service)
        provider_id = backend.send(device.token, notification_for(attempt, with_content))
    except ImproperlyConfigured as exc:
        logger.error("Push backend for %s is misconfigured: %s", device.service, exc)
        _finish(attempt, Status.FAILED, f"push backend misconfigured: {exc}")
        return
    except PushError as exc:
        _failed(self, attempt, exc)
        return
    _finish(attempt, Status.SENT, provider_id=provider_id[:200])


def _failed(task, attempt: PushAttempt, exc: PushError) -> None:
    error = exc.reason
    if exc.unregistered:
        # Unless the app registered the token again after this push was queued: then the
        # verdict is about the old registration (Apple's own advice for 410).
        removed, _ = Device.objects.filter(
            pk=attempt.device_id, registered_at__lte=attempt.created_at
        ).delete()
        if removed:
            error += " (device removed)"
    final = exc.permanent or attempt.attempts >= MAX_ATTEMPTS
    _finish(attempt, Status.FAILED if final else Status.QUEUED, error)
    if final:
        logger.warning("Push %s to %s failed: %s", attempt.pk, attempt.number, error)
        return
    raise task.retry(countdown=backoff_seconds(attempt.attempts, exc.retry_after))


@shared_task
def sweep_push_attempts() -> None:
    """Recover what a lost task or a dead worker left behind (run by Celery beat)."""
    now = timezone.now()
    PushAttempt.objects.filter(status=Status.SENDING, updated_at__lt=now - STALE_SENDING).update(
        status=Status.UNKNOWN,
        error="a worker stopped during the hand-off; not resent",
        updated_at=now,
    )
    PushAttempt.objects.filter(status=Status.QUEUED, created_at__lt=now - GIVE_UP_AFTER).update(
        status=Status.FAILED, error="still queued a day later; dropped as stale", updated_at=now
    )
    lost = PushAttempt.objects.filter(status=Status.QUEUED, updated_at__lt=now - STALE_QUEUED)
    for attempt_id in lost.values_list("pk", flat=True)[:1000]:
        send_push.delay(attempt_id)
