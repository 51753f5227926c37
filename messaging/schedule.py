"""Scheduled messages (SPEC §3): rows in the database, sent by a beat task when due."""

from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from groupflier.api.errors import ApiError, ErrorType
from groups.models import Membership
from messaging.actions import check_may_send, check_present, post
from messaging.models import Message, ScheduledMessage

WHEN_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_TIMES_PER_CALL = 100


def parse_when(raw: str, now=None) -> list[datetime]:
    """A comma-separated list of future UTC times; the first bad one is ``INVALID_WHEN``."""
    now = now or timezone.now()
    times = []
    for piece in raw.split(","):
        text = piece.strip()
        try:
            when = datetime.strptime(text, WHEN_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(ErrorType.INVALID_WHEN, text) from None
        if when <= now or len(times) == MAX_TIMES_PER_CALL:
            raise ApiError(ErrorType.INVALID_WHEN, text)
        times.append(when)
    return times


def format_when(when: datetime) -> str:
    return when.astimezone(UTC).strftime(WHEN_FORMAT)


def require_owner(membership: Membership) -> None:
    if membership.member_id != membership.group.owner_id:
        raise ApiError(ErrorType.NOT_OWNER)


def schedule(membership: Membership, text: str, times: list[datetime], cc: bool = False):
    """One scheduled message per time; only the owner schedules."""
    require_owner(membership)
    check_may_send(membership)
    return ScheduledMessage.objects.bulk_create(
        ScheduledMessage(group=membership.group, author=membership, text=text, cc=cc, when=when)
        for when in times
    )


def pending(membership: Membership) -> list[ScheduledMessage]:
    require_owner(membership)
    return list(
        ScheduledMessage.objects.filter(
            group=membership.group, status=ScheduledMessage.Status.PENDING
        ).order_by("when", "id")
    )


def delete(membership: Membership, scheduled_id: int) -> None:
    item = ScheduledMessage.objects.filter(
        pk=scheduled_id, group=membership.group, status=ScheduledMessage.Status.PENDING
    ).first()
    if item is None:
        raise ApiError(ErrorType.NOT_FOUND)
    require_owner(membership)
    ScheduledMessage.objects.filter(pk=item.pk, status=ScheduledMessage.Status.PENDING).update(
        status=ScheduledMessage.Status.DELETED
    )


SKIP_REASONS = {
    ErrorType.SUSPENDED: "the group or its owner's account was suspended",
    ErrorType.MEMBER_LOOKUP_FAILED: "the owner had left the group",
}


def send_due(now=None, batch: int = 50) -> int:
    """Send every scheduled message whose time has come, each exactly once.

    Rows are taken with ``FOR UPDATE SKIP LOCKED`` and leave PENDING in the same transaction
    that stores their message, so concurrent schedulers never take the same row twice.
    """
    handled = 0
    while True:
        with transaction.atomic():
            due = list(
                ScheduledMessage.objects.select_for_update(skip_locked=True)
                .filter(status=ScheduledMessage.Status.PENDING, when__lte=now or timezone.now())
                .order_by("when", "id")[:batch]
            )
            for item in due:
                send_one(item)
        handled += len(due)
        if len(due) < batch:
            return handled


def send_one(item: ScheduledMessage) -> None:
    author = Membership.objects.select_related("group", "member").get(pk=item.author_id)
    try:
        check_present(author)
        item.message = post(
            author.group, author, item.text, cc=item.cc, source=Message.Source.SCHEDULED
        )
    except ApiError as refusal:  # post refuses before it stores anything
        item.status = ScheduledMessage.Status.SKIPPED
        item.reason = SKIP_REASONS.get(refusal.error_type, refusal.error_type.value)
    else:
        item.status = ScheduledMessage.Status.SENT
    item.save(update_fields=["status", "reason", "message"])
