"""The fan-out of a message: who receives it, one delivery row per SMS part, and the hand-off
of each part to the gateway (SPEC §3 "Who receives" and "Delivery guarantees").

Every step is safe to repeat: rows are created against a unique constraint, and a part is
handed to the gateway only by the worker whose conditional UPDATE claimed it, committed first
(the row pipeline, ``groupflier.pipeline.rows``, which does the same for every text and push).
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts import billing
from devices.actions import NOTIFYING_TYPES, notify_message
from devices.models import Device
from groupflier import sql
from groupflier.pipeline import rows
from members.models import Member
from messaging.gateways.base import GatewayError, get_gateway
from messaging.gateways.state import apply_recipient_effect, is_paused
from messaging.models import Delivery, Message, Receipt
from messaging.receipts import apply_pending

logger = logging.getLogger(__name__)
Status = Delivery.Status


# Recipients are planned this many at a time, each chunk committed and handed to the workers
# at once, so that sending to a large group starts while the rest of it is still planned.
PLAN_CHUNK = 1000


def _who_receives(message: Message, owner_id: int) -> tuple[str, list]:
    """Who receives ``message`` (SPEC §3), as a condition on the memberships ``ms``: every
    active member but the sender (the sender too with cc); in a reply_to_owner group, a
    message from an ordinary member (``owner_only``) reaches the owner alone (and its sender,
    with cc). Written as SQL once, for the hold at acceptance and for the planning alike."""
    condition, params = "ms.group_id = %s AND NOT ms.bye", [message.group_id]
    if message.owner_only:
        condition += " AND (ms.member_id = %s OR ms.id = %s)"
        params += [owner_id, message.sender_id if message.cc else None]
    elif message.sender_id and not message.cc:
        condition += " AND ms.id <> %s"
        params.append(message.sender_id)
    return condition, params


def takers(message: Message, owner_id: int) -> tuple[str, list]:
    """A subquery counting the message's recipients who take texts (whose rows the planning
    will not make SKIPPED), for the parts held when the message is stored."""
    rule, params = _who_receives(message, owner_id)
    return (
        "SELECT COUNT(*) FROM groups_membership ms JOIN members_member mm ON mm.id = ms.member_id"
        f" WHERE {rule} AND NOT {_SKIP}",
        params,
    )


@dataclass(frozen=True)
class Recipient:
    membership_id: int
    member_id: int
    number: str
    address: str  # the member's own number for this group
    blocked: bool
    opted_out_locally: bool
    sms: bool


def _as_text(field: str):
    # Numbers read as the stored E.164 text: a PhoneNumber object per row would parse and
    # validate every number again, which costs more than the rest of the planning together.
    return Cast(field, output_field=CharField())


def plan(message: Message) -> Iterator[list[int]]:
    """Create the message's delivery rows and queue its pushes, a chunk of recipients at a
    time, each committed on its own; yields each chunk's queued delivery ids.

    Safe to run again after a crash part way: rows are unique per (message, recipient, part),
    so a second run creates only what is missing, and yields what is still queued.
    """
    parts = get_gateway().split(message.text, message.sender_name)
    rule, params = _who_receives(message, message.group.owner_id)
    with_devices = numbers_with_devices(message)
    last = 0
    while chunk := _people(rule, params, after=last):
        with transaction.atomic():
            insert_new(message, parts, [person.membership_id for person in chunk])
            push(message, chunk, with_devices)
        yield list(
            Delivery.objects.filter(
                message=message,
                status=Status.QUEUED,
                recipient_id__gt=last,
                recipient_id__lte=chunk[-1].membership_id,
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        last = chunk[-1].membership_id


_PEOPLE = """
    SELECT ms.id, ms.member_id, mm.number, COALESCE(pn.number, ''), mm.blocked,
           mm.opted_out_locally, ms.sms
      FROM groups_membership ms
      JOIN members_member mm ON mm.id = ms.member_id
      LEFT JOIN groups_poolnumber pn ON pn.id = ms.address_id
     WHERE {rule} AND ms.id > %s
     ORDER BY ms.id
     LIMIT %s
"""


def _people(rule: str, params: list, after: int) -> list[Recipient]:
    """The next chunk of recipients after membership id ``after``, in id order. Numbers are
    read as the stored E.164 text: a PhoneNumber object per row would parse and validate
    every number again, which cost more than the rest of the planning together."""
    with connection.cursor() as cursor:
        cursor.execute(_PEOPLE.format(rule=rule), [*params, after, PLAN_CHUNK])
        return [
            Recipient(pk, member, to, via, bool(blocked), bool(opted_out), bool(sms))
            for pk, member, to, via, blocked, opted_out, sms in cursor.fetchall()
        ]


# Why a member gets no texts, first that applies: one SKIPPED row instead of their parts.
SKIP_REASONS = (
    ("mm.blocked", "opted out of all texts (STOP)"),
    ("mm.opted_out_locally", "opted out at the SMS gateway"),
    ("NOT ms.sms", "sms=0: the member takes no texts from this group"),
)
_SKIP = "(" + " OR ".join(condition for condition, _ in SKIP_REASONS) + ")"
_REASON = " ".join(f"WHEN {condition} THEN %s" for condition, _ in SKIP_REASONS)
_INSERT = f"""
    INSERT INTO messaging_delivery
           (message_id, recipient_id, to_number, from_number, part, parts, text, status, reason,
            attempts, provider_ref, handoff, created_at, updated_at)
    SELECT %s, ms.id, mm.number, COALESCE(pn.number, ''), p.part,
           CASE WHEN {_SKIP} THEN 1 ELSE %s END,
           CASE WHEN {_SKIP} THEN '' ELSE p.text END,
           CASE WHEN {_SKIP} THEN '{Status.SKIPPED}' ELSE '{Status.QUEUED}' END,
           CASE {_REASON} ELSE '' END,
           0, '', '', %s, %s
      FROM groups_membership ms
      JOIN members_member mm ON mm.id = ms.member_id
      LEFT JOIN groups_poolnumber pn ON pn.id = ms.address_id
      JOIN ({{parts}}) p ON p.part = 1 OR NOT {_SKIP}
     WHERE ms.id IN ({{ids}})
    ON CONFLICT DO NOTHING
"""


def insert_new(message: Message, parts: list[str], membership_ids: list[int]) -> None:
    """Insert the delivery rows of ``message`` to these memberships, but those that exist
    already, in one statement: the database makes the rows. (Made in Python, preparing each
    value of each row cost more than everything else in planning a large group.)"""
    reasons = [reason for _, reason in SKIP_REASONS]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    numbered = " UNION ALL ".join(["SELECT %s AS part, %s AS text"] * len(parts))
    statement = _INSERT.format(parts=numbered, ids=sql.placeholders(membership_ids))
    params = [message.pk, len(parts), *reasons, now, now]
    params += [value for index, text in enumerate(parts, start=1) for value in (index, text)]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, *membership_ids])


def numbers_with_devices(message: Message) -> set[str]:
    """The numbers in the message's group with a phone app that takes pushes: looked up once
    for the whole fan-out (a look-up per chunk of recipients cost more than its rows)."""
    numbers = Member.objects.filter(memberships__group_id=message.group_id).values("number")
    devices = Device.objects.filter(type__in=NOTIFYING_TYPES, number__in=numbers)
    return set(devices.annotate(text=_as_text("number")).values_list("text", flat=True))


def push(message: Message, people: list[Recipient], with_devices: set[str]) -> None:
    """A push notification to each recipient with a phone app that takes them (SPEC §3)."""
    for person in people:
        if person.blocked or person.number not in with_devices:
            continue
        notify_message(
            person.member_id,
            person.address,
            message.group.name,
            message.seq,
            message.sender_name or None,
            message.text,
            key=f"message:{message.pk}",
        )


def queued_ids(message_id: int) -> list[int]:
    return list(
        Delivery.objects.filter(message_id=message_id, status=Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )


# --- The hand-off ----------------------------------------------------------------------------


def settle_planned(message: Message) -> None:
    """Once every row is planned: give back what the hold at acceptance counted for parts
    that will not go (a member who set sms=0 or left since), or take what it missed
    (SPEC §5: the cost is held at acceptance and settled as the parts end)."""
    planned = message.deliveries.exclude(status=Status.SKIPPED).count()
    billing.settle_hold(
        message.group.owner_id,
        hold=f"hold:message:{message.pk}",
        parts=message.held_parts - planned,
        reference=f"settle:message:{message.pk}",
        note=f"message {message.pk}: {planned} of {message.held_parts} held part(s) to send",
    )


class DeliveryPipeline(rows.Pipeline):
    """Group messages' SMS parts through the configured gateway."""

    kind = "deliveries"
    model = Delivery
    columns = ("to_number", "from_number", "text", "message_id", "recipient_id")
    errors = (GatewayError,)

    def paused(self) -> bool:
        return is_paused(get_gateway())

    def prepare(self, parts):
        return get_gateway(), sender_names({part.message_id for part in parts})

    def hand_off(self, part, shared) -> str:
        gateway, sender_names = shared
        return gateway.send_part(
            part.to_number,
            part.text,
            from_number=part.from_number,
            sender_name=sender_names[part.message_id],
        )

    def after_sent(self, sent):
        apply_pending([reference for _, reference in sent])

    def after_failed(self, part, error):
        give_back_part(part.message_id, part.id)
        if error is not None and part.recipient_id:
            member = Member.objects.filter(memberships__pk=part.recipient_id).first()
            if member is not None:
                apply_recipient_effect(error, member)

    def extra_sweep(self, now):
        """Messages whose fan-out never started (the broker was down when they were accepted,
        or the planning worker died) are fanned out again; stale receipts are dropped."""
        from messaging.tasks import fan_out

        unplanned = Message.objects.filter(
            fanned_out_at=None, created_at__lt=now - settings.GROUPFLIER_DELIVERY_REDRIVE_AFTER
        ).values_list("pk", flat=True)[: settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT]
        for message_id in unplanned:
            fan_out.delay(message_id)
        Receipt.objects.filter(received_at__lt=now - timedelta(days=1)).delete()


def sender_names(message_ids: set[int]) -> dict[int, str]:
    """The sender names of these messages (a batch's one or two), in one statement written
    out: built by the ORM it cost more than the database's work, once per batch."""
    ids = list(message_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, sender_name FROM {Message._meta.db_table} "
            f"WHERE id IN ({sql.placeholders(ids)})",
            ids,
        )
        return dict(cursor.fetchall())


# A part's cost is settled once per round: given back when it ends failed, charged again when
# an operator queues it again (``requeue:delivery:<id>:<round>``), given back again after
# that (``refund:delivery:<id>:<round>``; the first round's has no number).
REQUEUE_PREFIX = "requeue:delivery:"


def give_back_part(message_id: int, delivery_id: int) -> None:
    """A part that ended failed is not charged (SPEC §5): given back once in its round."""
    owner_id, rounds = _settling(message_id, delivery_id)
    billing.settle_hold(
        owner_id,
        hold=f"hold:message:{message_id}",
        parts=1,
        reference=_refund_reference(delivery_id, rounds),
        note=f"a part of message {message_id} that failed",
    )


def charge_again(message_id: int, delivery_id: int) -> None:
    """A part given back as failed is queued again by an operator: it is charged again, as a
    part that has not ended failed (SPEC §5). Nothing for a part that was never given back (a
    free account, a message accepted before holds)."""
    owner_id, rounds = _settling(message_id, delivery_id)
    if owner_id is None or not billing.posted(owner_id, _refund_reference(delivery_id, rounds)):
        return
    billing.settle_hold(
        owner_id,
        hold=f"hold:message:{message_id}",
        parts=-1,
        reference=f"{REQUEUE_PREFIX}{delivery_id}:{rounds + 1}",
        note=f"a failed part of message {message_id} queued again by an operator",
    )


def _settling(message_id: int, delivery_id: int) -> tuple[int | None, int]:
    """The message's owner, and how many times this part was charged again after being given
    back (its round)."""
    owner = Message.objects.filter(pk=message_id).values_list("group__owner_id", flat=True)
    owner_id = owner.first()
    if owner_id is None:
        return None, 0
    # Exact references, each one look-up in the ledger's (account, reference) index: a prefix
    # search would read every entry of the account, on every failed part.
    rounds = 0
    while billing.posted(owner_id, f"{REQUEUE_PREFIX}{delivery_id}:{rounds + 1}"):
        rounds += 1
    return owner_id, rounds


def _refund_reference(delivery_id: int, rounds: int) -> str:
    return f"refund:delivery:{delivery_id}" + (f":{rounds}" if rounds else "")


PIPELINE = rows.register(DeliveryPipeline())


def queue_sends(delivery_ids: list[int]) -> None:
    rows.queue(PIPELINE, delivery_ids)
