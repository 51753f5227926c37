"""The fan-out of a message: who receives it, one delivery row per SMS part, and the hand-off
of each part to the gateway (SPEC §3 "Who receives" and "Delivery guarantees").

Every step is safe to repeat: rows are created against a unique constraint, and a part is
handed to the gateway only by the worker whose conditional UPDATE claimed it, committed first.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.billing import debit_sms_part
from accounts.models import Account
from devices.actions import NOTIFYING_TYPES, notify_message
from devices.models import Device
from groups.models import Membership
from members.models import Member
from messaging import handoff
from messaging.gateways.base import ErrorEffect, GatewayError, get_gateway
from messaging.gateways.state import apply_recipient_effect, is_paused
from messaging.models import Delivery, Message
from messaging.receipts import apply_pending

logger = logging.getLogger(__name__)
Status = Delivery.Status


# Recipients are planned this many at a time, each chunk committed and handed to the workers
# at once, so that sending to a large group starts while the rest of it is still planned.
PLAN_CHUNK = 1000


def recipients(message: Message):
    """Every active member but the sender (the sender too with cc); in a reply_to_owner group,
    a message from an ordinary member reaches the owner alone. A queryset, in id order."""
    group = message.group
    memberships = group.memberships.filter(bye=False)
    if message.owner_only:
        memberships = memberships.filter(member_id=group.owner_id) | memberships.filter(
            pk=message.sender_id if message.cc else None
        )
    elif message.sender_id and not message.cc:
        memberships = memberships.exclude(pk=message.sender_id)
    return memberships.order_by("id")


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
    people = (
        recipients(message)
        .annotate(to=_as_text("member__number"), via=_as_text("address__number"))
        .values_list(
            "id", "member_id", "to", "via", "member__blocked", "member__opted_out_locally", "sms"
        )
    )
    last = 0
    while chunk := [
        Recipient(pk, member, to, via or "", *flags)
        for pk, member, to, via, *flags in people.filter(id__gt=last)[:PLAN_CHUNK]
    ]:
        with transaction.atomic():
            insert_new(message, parts, [person.membership_id for person in chunk])
            push(message, chunk)
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
    sql = _INSERT.format(parts=numbered, ids=", ".join(["%s"] * len(membership_ids)))
    params = [message.pk, len(parts), *reasons, now, now]
    params += [value for index, text in enumerate(parts, start=1) for value in (index, text)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *membership_ids])


def push(message: Message, people: list[Recipient]) -> None:
    """A push notification to each recipient with a phone app that takes them (SPEC §3)."""
    by_number = {person.number: person for person in people if not person.blocked}
    with_devices = set(
        Device.objects.filter(
            type__in=NOTIFYING_TYPES,
            number__in=Member.objects.filter(
                pk__in=[person.member_id for person in by_number.values()]
            ).values("number"),
        )
        .annotate(text=_as_text("number"))
        .values_list("text", flat=True)
    )
    for number in with_devices:
        person = by_number[number]
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

_CLAIM = """
    UPDATE messaging_delivery
       SET status = 'sending', attempts = attempts + 1, handoff = %s, updated_at = %s
     WHERE status = 'queued' AND id IN ({ids})
 RETURNING id, to_number, from_number, text, attempts, message_id, recipient_id
"""

# Successes are written back about this often (and at the end of a batch), so the admin's view
# of a slow batch (a rate-limited gateway) stays current and the sweep sees the batch alive.
FLUSH_SECONDS = 1.0


@dataclass
class Claimed:
    id: int
    to_number: str
    from_number: str
    text: str
    attempts: int
    message_id: int
    recipient_id: int


def claim(delivery_ids: list[int], token: str) -> list[Claimed]:
    """Mark the queued ones among ``delivery_ids`` as being handed over, under ``token``, and
    commit that before any of them reaches the gateway; in id order, the order they go in.

    One statement in autocommit: it is committed when it returns, in one round trip.
    """
    if not delivery_ids:
        return []
    sql = _CLAIM.format(ids=", ".join(["%s"] * len(delivery_ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [token, timezone.now(), *delivery_ids])
        rows = cursor.fetchall()
    return sorted((Claimed(*row) for row in rows), key=lambda part: part.id)


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
    """Claim the batch, then hand its parts to the gateway one at a time, each recorded in the
    hand-off log just before (``messaging.handoff``)."""
    gateway = get_gateway()
    result = BatchResult()
    if is_paused(gateway):
        result.waiting.extend(delivery_ids)
        return result
    token = handoff.open_batch()
    parts = claim(sorted(delivery_ids), token)
    done = Outcomes(token, [part.id for part in parts])
    revoked = False
    for position, part in enumerate(parts):
        if result.waiting:  # the gateway paused itself during this batch
            rest = [later.id for later in parts[position:]]
            release(rest, token)
            result.waiting.extend(rest)
            break
        if not handoff.begin(token, part.id):
            revoked = True  # the sweep took this batch back: the rest of it is the sweep's
            break
        sender_name = done.about(part.message_id)[0]
        try:
            reference = gateway.send_part(
                part.to_number, part.text, from_number=part.from_number, sender_name=sender_name
            )
        except GatewayError as error:
            # Written before the next part begins: the log's rule that every begun part but
            # the last went through depends on it.
            done.flush()
            handle_error(part, error, result)
            done.settled(part.id)
            continue
        done.sent(part, reference)
        result.sent += 1
    done.flush()
    done.close(batch=not revoked)
    return result


class Outcomes:
    """The successes of one batch, written to the database together: each message's parts
    marked SENT and, when billed, debited to the owner in the same transaction."""

    def __init__(self, token: str, claimed_ids: list[int]):
        self.token = token
        self.claimed_ids = claimed_ids
        self.pending: dict[int, list[tuple[int, str]]] = {}
        self.begun: list[int] = []
        self.messages: dict[int, tuple[str, bool, int]] = {}
        self.flushes = 0
        self.flushed_at = time.monotonic()

    def about(self, message_id: int) -> tuple[str, bool, int]:
        if message_id not in self.messages:
            self.messages[message_id] = about_message(message_id)
        return self.messages[message_id]

    def sent(self, part: Claimed, reference: str) -> None:
        self.pending.setdefault(part.message_id, []).append((part.id, reference or ""))
        self.begun.append(part.id)
        if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()
            # The parts still to come show the batch is alive (the sweep reads updated_at).
            Delivery.objects.filter(
                pk__in=self.claimed_ids, status=Status.SENDING, handoff=self.token
            ).update(updated_at=timezone.now())

    def settled(self, delivery_id: int) -> None:
        """A begun part whose outcome is in the database already (a failure)."""
        self.begun.append(delivery_id)

    def flush(self) -> None:
        for message_id, sent in self.pending.items():
            self.flushes += 1
            record_sent(
                self.token, message_id, sent, self.about(message_id), batch_part=self.flushes
            )
        self.pending = {}
        self.flushed_at = time.monotonic()

    def close(self, *, batch: bool) -> None:
        """Drop the batch's entries from the hand-off log: every outcome is written."""
        handoff.forget(self.token, self.begun, batch=batch)


def record_sent(
    token: str,
    message_id: int,
    sent: list[tuple[int, str]],
    about: tuple[str, bool, int],
    *,
    batch_part: int | str,
) -> int:
    """Mark parts of one message SENT (those still SENDING under ``token``) and debit them
    to the owner when billed, both or neither. Returns how many changed."""
    _, billed, owner_id = about
    references = {delivery_id: reference for delivery_id, reference in sent if reference}
    provider_ref = Value("")
    if references:
        provider_ref = Case(
            *(When(pk=pk, then=Value(ref[:100])) for pk, ref in references.items()),
            default=Value(""),
        )
    with transaction.atomic():
        changed = Delivery.objects.filter(
            pk__in=[delivery_id for delivery_id, _ in sent],
            status=Status.SENDING,
            handoff=token,
        ).update(
            status=Status.SENT, reason="", provider_ref=provider_ref, updated_at=timezone.now()
        )
        if billed and changed:
            debit_sms_part(
                Member(pk=owner_id),
                parts=changed,
                reference=f"handoff:{token}:{batch_part}",
                note=f"{changed} SMS part(s) of message {message_id}",
            )
    if references:
        apply_pending(list(references.values()))
    return changed


def release(delivery_ids: list[int], token: str) -> int:
    """Give back claimed parts that were never begun (the gateway paused, or the worker died
    first): queued again, the attempt not counted. Returns how many went back."""
    return Delivery.objects.filter(
        pk__in=delivery_ids, status=Status.SENDING, handoff=token
    ).update(status=Status.QUEUED, attempts=F("attempts") - 1, updated_at=timezone.now())


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

    Parts still SENDING long after their batch last showed life were claimed by a worker that
    died: the hand-off log says which went through (SENT), which was in its hands (UNKNOWN,
    never resent) and which it never reached (queued again). Parts QUEUED for a while with no
    task about to take them (a broker restart, a publish lost after commit) are queued again;
    the claim makes a duplicate task harmless.
    """
    now = now or timezone.now()
    limit = settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT
    stuck: dict[str, list[tuple[int, int]]] = {}
    for delivery_id, token, message_id in Delivery.objects.filter(
        status=Status.SENDING, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_UNKNOWN_AFTER
    ).values_list("id", "handoff", "message_id")[:limit]:
        stuck.setdefault(token, []).append((delivery_id, message_id))
    counts = {"sent": 0, "unknown": 0}
    taken_back = []
    for token, rows in stuck.items():
        outcome = handoff.resolve(token, [delivery_id for delivery_id, _ in rows])
        message_of = dict(rows)
        by_message: dict[int, list[tuple[int, str]]] = {}
        for delivery_id in outcome.sent:
            by_message.setdefault(message_of[delivery_id], []).append((delivery_id, ""))
        for message_id, sent in by_message.items():
            about = about_message(message_id)
            batch_part = f"recovered-{message_id}"
            counts["sent"] += record_sent(token, message_id, sent, about, batch_part=batch_part)
        counts["unknown"] += Delivery.objects.filter(
            pk__in=outcome.unknown, status=Status.SENDING, handoff=token
        ).update(
            status=Status.UNKNOWN,
            reason="the worker stopped during the hand-off; the gateway may have it",
            updated_at=now,
        )
        if release(outcome.requeue, token):
            taken_back.extend(outcome.requeue)
    stale = list(
        Delivery.objects.filter(
            status=Status.QUEUED, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_REDRIVE_AFTER
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return {**counts, "requeued": taken_back + stale}
