"""What an operator does to the delivery pipeline by hand, and what they watch it with.

The pipeline never takes a part out of a final status by itself. Two deliberate acts may,
each one conditional UPDATE (the transitions are on ``messaging.models.Delivery``):
    FAILED  -> QUEUED   ``requeue_failed``: try again, e.g. after the gateway was fixed
    UNKNOWN -> QUEUED   ``resend_unknown``: the gateway may already have it, so a resend may
                        reach the recipient twice; the admin asks for a confirmation
    UNKNOWN -> FAILED   ``close_unknown``: settle it without a resend
A part is queued again with a fresh count of attempts, and its send task is queued on commit,
through the same ``queue_sends`` as every other part. Run twice, an act finds nothing left
in the status it moves parts from, and queues nothing.

The cost follows (SPEC §5: a part that ends failed is given back, any other is charged): a
failed part queued again is charged again, and given back again if it fails again; an unknown
part closed as failed is given back.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from messaging.fanout import charge_again, give_back_part, queue_sends
from messaging.models import Delivery, Message

Status = Delivery.Status

#: The order statuses are shown in (``delivered`` when the pipeline knows receipts).
_ORDER = ("queued", "sending", "sent", "delivered", "failed", "skipped", "unknown")
SHOWN_STATUSES = [s for s in _ORDER if s in Status.values] + [
    s for s in Status.values if s not in _ORDER
]
OPEN_STATUSES = (Status.QUEUED, Status.SENDING)
RATE_WINDOW = timedelta(seconds=60)


def _queue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: queue_sends(ids))


@transaction.atomic
def _move(delivery_ids: Iterable[int], source: str, target: str, reason: str) -> list[int]:
    moved = list(
        Delivery.objects.filter(pk__in=list(delivery_ids), status=source)
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)
    )
    fields = {"status": target, "reason": reason, "updated_at": timezone.now()}
    if target == Status.QUEUED:
        fields.update(attempts=0, handoff="", provider_ref="")
    # The status condition again, so a part that changed since it was read is left alone.
    Delivery.objects.filter(pk__in=moved, status=source).update(**fields)
    if target == Status.QUEUED:
        _queue_on_commit(moved)
    return moved


@transaction.atomic
def requeue_failed(delivery_ids: Iterable[int]) -> list[int]:
    """Queue failed parts again; the ids of those that were failed and now are queued. Each is
    charged again, having been given back when it failed (SPEC §5)."""
    moved = _move(delivery_ids, Status.FAILED, Status.QUEUED, "")
    for delivery_id, message_id in _messages_of(moved):
        charge_again(message_id, delivery_id)
    return moved


def resend_unknown(delivery_ids: Iterable[int]) -> list[int]:
    """Queue parts of unknown fate again: may duplicate, which is why it is asked for."""
    return _move(delivery_ids, Status.UNKNOWN, Status.QUEUED, "")


@transaction.atomic
def close_unknown(delivery_ids: Iterable[int], *, by: str) -> list[int]:
    """Settle parts of unknown fate as failed, without a resend; as failed parts they are
    given back (SPEC §5)."""
    moved = _move(delivery_ids, Status.UNKNOWN, Status.FAILED, f"unknown, closed by {by}"[:200])
    for delivery_id, message_id in _messages_of(moved):
        give_back_part(message_id, delivery_id)
    return moved


def _messages_of(delivery_ids: list[int]) -> list[tuple[int, int]]:
    return list(Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "message_id"))


def parts_of(message_ids: Iterable[int], status: str) -> list[int]:
    return list(
        Delivery.objects.filter(message_id__in=list(message_ids), status=status).values_list(
            "pk", flat=True
        )
    )


# --- Progress -------------------------------------------------------------------------------


@dataclass
class Progress:
    """Where a message's parts stand, and how fast they have been settling."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SHOWN_STATUSES, 0))
    per_second: float = 0.0  # parts settled per second over the last minute
    planned: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> bool:
        return self.planned and not any(self.counts.get(s, 0) for s in OPEN_STATUSES)

    def as_dict(self) -> dict:
        return {
            "counts": self.counts,
            "total": self.total,
            "per_second": round(self.per_second, 1),
            "done": self.done,
        }


def progress(message_ids: Iterable[int], now=None) -> dict[int, Progress]:
    """Each message's counts by status and its rate: two grouped, indexed queries in all."""
    ids = list(message_ids)
    now = now or timezone.now()
    found = {pk: Progress() for pk in ids}
    rows = (
        Delivery.objects.filter(message_id__in=ids)
        .values_list("message_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for message_id, status, n in rows:
        found[message_id].counts[status] = n
    recent = (
        Delivery.objects.filter(message_id__in=ids, updated_at__gte=now - RATE_WINDOW)
        .exclude(status__in=OPEN_STATUSES)
        .values_list("message_id")
        .annotate(n=Count("id"), first=Min("updated_at"), last=Max("updated_at"))
        .order_by()
    )
    for message_id, n, first, last in recent:
        # Over the time the parts have actually been settling, up to the window: a fan-out
        # that took 5 seconds shows its rate, not that rate divided by 12.
        still_going = found[message_id].counts.get(Status.QUEUED, 0) > 0
        span = (now if still_going else last) - first
        seconds = min(max(span.total_seconds(), 1.0), RATE_WINDOW.total_seconds())
        found[message_id].per_second = n / seconds
    for message_id in Message.objects.filter(pk__in=ids, fanned_out_at=None).values_list(
        "pk", flat=True
    ):
        found[message_id].planned = False
    return found


# --- CSV exports ----------------------------------------------------------------------------


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: texts are members' words.
    # Phone numbers (+E.164) and plain numbers stay as they are.
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_STARTS and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_rows(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


MESSAGE_COLUMNS = [
    "group_id",
    "group",
    "message_id",
    "sent_at",
    "sender_name",
    "sender_number",
    "source",
    "text",
]


def message_rows(messages) -> Iterator[list]:
    for m in messages.select_related("group").order_by("group_id", "seq").iterator(2000):
        yield [
            m.group_id,
            m.group.name,
            m.seq,
            m.created_at.isoformat(),
            m.sender_name,
            m.sender_number,
            m.source,
            m.text,
        ]


DELIVERY_COLUMNS = [
    "group_id",
    "message_id",
    "to_number",
    "from_number",
    "part",
    "parts",
    "status",
    "reason",
    "attempts",
    "provider_ref",
    "updated_at",
]


def delivery_rows(deliveries) -> Iterator[list]:
    rows = deliveries.select_related("message").order_by("message_id", "to_number", "part")
    for d in rows.iterator(2000):
        yield [
            d.message.group_id,
            d.message.seq,
            d.to_number,
            d.from_number,
            d.part,
            d.parts,
            d.status,
            d.reason,
            d.attempts,
            d.provider_ref,
            d.updated_at.isoformat(),
        ]
