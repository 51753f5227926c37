"""The fan-out of a message: who receives it, one delivery row per SMS part, and the hand-off
of each part to the gateway (SPEC §3 "Who receives" and "Delivery guarantees").

Every step is safe to repeat: rows are created against a unique constraint, and a part is
handed to the gateway only by the worker whose conditional UPDATE claimed it, committed first.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.billing import debit_sms_part
from accounts.models import Account
from devices.actions import NOTIFYING_TYPES, notify_message
from devices.models import Device
from groups.models import Membership
from members.models import Member
from messaging.gateways.base import ErrorEffect, GatewayError, get_gateway
from messaging.gateways.state import apply_recipient_effect, is_paused
from messaging.models import Delivery, Message

logger = logging.getLogger(__name__)
Status = Delivery.Status


def recipients(message: Message) -> list[Membership]:
    """Every active member but the sender (the sender too with cc); in a reply_to_owner group,
    a message from an ordinary member reaches the owner alone."""
    group = message.group
    memberships = group.memberships.filter(bye=False).select_related("member", "address")
    if message.owner_only:
        memberships = memberships.filter(member_id=group.owner_id) | memberships.filter(
            pk=message.sender_id if message.cc else None
        )
    elif message.sender_id and not message.cc:
        memberships = memberships.exclude(pk=message.sender_id)
    return list(memberships.order_by("id"))


def skip_reason(membership: Membership) -> str:
    member = membership.member
    if member.blocked:
        return "opted out of all texts (STOP)"
    if member.opted_out_locally:
        return "opted out at the SMS gateway"
    if not membership.sms:
        return "sms=0: the member takes no texts from this group"
    return ""


def plan(message: Message) -> int:
    """Create the message's delivery rows and queue its pushes. Returns the rows created."""
    gateway = get_gateway()
    parts = gateway.split(message.text, message.sender_name)
    rows = []
    people = recipients(message)
    for membership in people:
        common = dict(
            message=message,
            recipient=membership,
            to_number=str(membership.member.number),
            from_number=str(membership.address.number) if membership.address else "",
        )
        reason = skip_reason(membership)
        if reason:
            rows.append(Delivery(**common, status=Status.SKIPPED, reason=reason, text=""))
            continue
        for index, text in enumerate(parts, start=1):
            rows.append(Delivery(**common, part=index, parts=len(parts), text=text))
    created = Delivery.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    push(message, people)
    return len(created)


def push(message: Message, people: list[Membership]) -> None:
    """A push notification to each recipient with a phone app that takes them (SPEC §3)."""
    numbers = {str(m.member.number): m for m in people if not m.member.blocked}
    with_devices = set(
        str(number)
        for number in Device.objects.filter(
            number__in=list(numbers), type__in=NOTIFYING_TYPES
        ).values_list("number", flat=True)
    )
    for number in with_devices:
        membership = numbers[number]
        notify_message(
            membership.member_id,
            str(membership.address.number) if membership.address else "",
            message.group.name,
            message.seq,
            message.sender_name or None,
            message.text,
            key=f"message:{message.pk}",
        )


def queued_batches(message_id: int, size: int):
    ids = list(
        Delivery.objects.filter(message_id=message_id, status=Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# --- The hand-off ----------------------------------------------------------------------------

_CLAIM = """
    UPDATE messaging_delivery
       SET status = 'sending', attempts = attempts + 1, updated_at = %s
     WHERE id = %s AND status = 'queued'
 RETURNING to_number, from_number, text, attempts, message_id, recipient_id
"""


@dataclass
class Claimed:
    id: int
    to_number: str
    from_number: str
    text: str
    attempts: int
    message_id: int
    recipient_id: int


def claim(delivery_id: int) -> Claimed | None:
    """Mark one queued delivery as being handed over, committed before the gateway is called:
    if the worker dies during the hand-off the row stays SENDING and is never resent.

    One statement in autocommit: it is committed when it returns, in one round trip.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [timezone.now(), delivery_id])
        row = cursor.fetchone()
    return Claimed(delivery_id, *row) if row else None


def finish(delivery_id: int, status: str, reason: str = "", **fields) -> int:
    return Delivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
        status=status, reason=reason[:200], updated_at=timezone.now(), **fields
    )


@dataclass
class BatchResult:
    sent: int = 0
    retry: list[int] = field(default_factory=list)  # transient failures, to try again later
    waiting: list[int] = field(default_factory=list)  # the gateway is paused
    highest_attempt: int = 0


def send_batch(delivery_ids: list[int]) -> BatchResult:
    gateway = get_gateway()
    result = BatchResult()
    if is_paused(gateway):
        result.waiting.extend(delivery_ids)
        return result
    messages: dict[int, tuple[str, bool, int]] = {}
    for position, delivery_id in enumerate(delivery_ids):
        if result.waiting:  # the gateway paused itself during this batch
            result.waiting.extend(delivery_ids[position:])
            break
        claimed = claim(delivery_id)
        if claimed is None:
            continue  # sent, skipped or claimed by another run already
        if claimed.message_id not in messages:
            messages[claimed.message_id] = about_message(claimed.message_id)
        sender_name, billed, owner_id = messages[claimed.message_id]
        try:
            reference = gateway.send_part(
                claimed.to_number,
                claimed.text,
                from_number=claimed.from_number,
                sender_name=sender_name,
            )
        except GatewayError as error:
            handle_error(claimed, error, result)
            continue
        if billed:
            # Marked sent and debited together, or neither.
            with transaction.atomic():
                if finish(delivery_id, Status.SENT, provider_ref=(reference or "")[:100]):
                    debit_sms_part(Member(pk=owner_id), reference=f"delivery:{delivery_id}")
        else:
            finish(delivery_id, Status.SENT, provider_ref=(reference or "")[:100])
        result.sent += 1
    return result


def about_message(message_id: int) -> tuple[str, bool, int]:
    """(sender name, whether its parts are billed, owner id), read once per batch.

    Parts are billed unless texts are free or the owner's account is free (or missing):
    ``debit_sms_part`` would debit nothing then, so the transaction around it is saved.
    """
    sender_name, owner_id = (
        Message.objects.filter(pk=message_id).values_list("sender_name", "group__owner_id").get()
    )
    account_type = Account.objects.filter(member_id=owner_id).values_list("type", flat=True).first()
    billed = (
        settings.GROUPFLIER_SMS_PRICE > 0
        and account_type is not None
        and account_type != Account.Type.FREE
    )
    return sender_name, billed, owner_id


def handle_error(claimed: Claimed, error: GatewayError, result: BatchResult) -> None:
    reason = f"{error.code}: {error.reason}" if error.code else error.reason
    effect = error.effect
    if effect is ErrorEffect.PAUSE_GATEWAY:
        # Not the recipient's fault: wait for the gateway without spending an attempt.
        Delivery.objects.filter(pk=claimed.id, status=Status.SENDING).update(
            status=Status.QUEUED,
            attempts=claimed.attempts - 1,
            reason=reason[:200],
            updated_at=timezone.now(),
        )
        result.waiting.append(claimed.id)
    elif effect is ErrorEffect.RETRY:
        if claimed.attempts >= settings.GROUPFLIER_DELIVERY_MAX_ATTEMPTS:
            gave_up = f"gave up after {claimed.attempts} attempts: {reason}"
            finish(claimed.id, Status.FAILED, gave_up)
        else:
            finish(claimed.id, Status.QUEUED, reason)
            result.retry.append(claimed.id)
            result.highest_attempt = max(result.highest_attempt, claimed.attempts)
    elif effect is ErrorEffect.OUTCOME_UNKNOWN:
        finish(claimed.id, Status.UNKNOWN, reason)
    else:
        finish(claimed.id, Status.FAILED, reason)
        membership = Membership.objects.select_related("member").get(pk=claimed.recipient_id)
        apply_recipient_effect(error, membership.member)


def sweep(now=None) -> dict:
    """Recover what a lost publish or a dead worker left behind (run periodically).

    Deliveries still SENDING long after their claim were in a worker that died during the
    hand-off: UNKNOWN, never resent. Deliveries QUEUED for a while with no task about to take
    them (a broker restart, a publish lost after commit) are queued again; the claim makes a
    duplicate task harmless.
    """
    now = now or timezone.now()
    unknown = Delivery.objects.filter(
        status=Status.SENDING, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_UNKNOWN_AFTER
    ).update(
        status=Status.UNKNOWN,
        reason="the worker stopped during the hand-off; the gateway may have it",
        updated_at=now,
    )
    stale = list(
        Delivery.objects.filter(
            status=Status.QUEUED, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_REDRIVE_AFTER
        )
        .order_by("id")
        .values_list("id", flat=True)[: settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT]
    )
    return {"unknown": unknown, "requeued": stale}
