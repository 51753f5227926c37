"""Sending and reading group messages (SPEC §3).

``send`` is the one way a message enters a group, whether it comes from the API, an SMS or
the scheduler: star commands act and reply, anything else is stored under the next per-group
id and fanned out by the workers once the transaction commits.
"""

import logging
from collections import namedtuple
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from accounts.billing import check_can_send, hold_parts
from groupflier import sql
from groupflier.api.errors import ApiError, ErrorType
from groups.models import Absence, Group, Membership
from messaging.gateways.base import get_gateway
from messaging.models import Counter, Delivery, Message
from texts.marks import command_word

logger = logging.getLogger(__name__)
GET_DEFAULT_COUNT = 100  # /message/get without a range: the latest 100
GET_MAX_RANGE = 500  # a range answers at most 500, oldest first
GRAND_TOTAL = "messages"


@dataclass
class Sent:
    message: Message | None = None
    reply: str | None = None  # a star command's answer to its sender
    refresh: bool = False  # the star command changed the group


def is_star_command(text: str) -> bool:
    """`*` and a word, or `#` and a command word (SPEC §3: `#bye` = `*bye`)."""
    return command_word(text) is not None


def send(membership: Membership, text: str, *, cc: bool = False, source=Message.Source.API) -> Sent:
    """A member's text to their group: a star command, or a message for everyone."""
    if is_star_command(text):
        from messaging import commands

        return commands.run(membership, text)
    check_may_send(membership)
    return Sent(message=post(membership.group, membership, text, cc=cc, source=source))


def check_may_send(membership: Membership) -> None:
    """Permission and state checks for a message (not a star command) from ``membership``."""
    if membership.bye:
        # They left: *hi brings them back; until then they are not in the conversation.
        raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)
    if membership.group.status != Group.Status.ACTIVE:
        raise ApiError(ErrorType.SUSPENDED, "pending")
    check_can_send(membership.group)


def post(
    group: Group,
    sender: Membership | None,
    text: str,
    *,
    cc: bool = False,
    source=Message.Source.API,
) -> Message:
    """Store a message under the group's next id, hold its cost, and queue its fan-out on
    commit.

    ``sender`` None is a system notice. The group's row lock makes concurrent posts take
    turns for the id, so ids run 1, 2, 3... with no gap and no repeat. The whole fan-out's
    cost is held on the owner's account first (SPEC §5): without cover a member's message is
    refused (``SUSPENDED``, ``balance``) and nothing is stored; a notice is held regardless.
    """
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        last = group.messages.aggregate(last=Max("seq"))["last"] or 0
        owner_only = bool(
            group.reply_to_owner
            and sender is not None
            and sender.member_id != group.owner_id
            and not sender.broadcast
        )
        message = Message(
            group=group,
            seq=last + 1,
            sender=sender,
            sender_name=sender.name if sender else "",
            sender_number=str(sender.member.number) if sender else "",
            text=text,
            cc=cc,
            owner_only=owner_only,
            source=source,
        )
        message.held_parts = parts_to_send(message)
        message.save()
        hold_parts(
            group.owner_id,
            message.held_parts,
            reference=f"hold:message:{message.pk}",
            note=f"message {message.pk}: {message.held_parts} SMS part(s) held",
            required=sender is not None,
        )
        if sender is not None:
            Membership.objects.filter(pk=sender.pk).update(last_exchanged_at=timezone.now())
        count_for_readers(message)
        count_message()
        transaction.on_commit(lambda: queue_fan_out(message.pk))
    return message


def queue_fan_out(message_id: int) -> None:
    """Hand the stored message to the workers. A broker that cannot be reached now does not
    fail the send: the message is stored, and the sweep fans out what never started."""
    from messaging.tasks import fan_out

    try:
        fan_out.delay(message_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep re-drives
        logger.warning(
            "Could not queue the fan-out of message %s (%s); the sweep will", message_id, exc
        )


def parts_to_send(message: Message) -> int:
    """The SMS parts the message's fan-out would send now: recipients who take texts, times
    the parts the gateway splits it into."""
    from messaging.fanout import recipients

    takers = recipients(message).filter(
        sms=True, member__blocked=False, member__opted_out_locally=False
    )
    return takers.count() * len(get_gateway().split(message.text, message.sender_name))


def count_message() -> None:
    updated = Counter.objects.filter(name=GRAND_TOTAL).update(value=F("value") + 1)
    if not updated:
        Counter.objects.get_or_create(name=GRAND_TOTAL, defaults={"value": 0})
        Counter.objects.filter(name=GRAND_TOTAL).update(value=F("value") + 1)


def count_for_readers(message: Message) -> None:
    """Add ``message`` to the ``message_count`` of every membership that can see it.

    Called under the group's row lock, which leaving and coming back (``groups.roster``) take
    too, so the members away now (``bye``) are exactly those whose absence covers the message:
    the same memberships ``visible_messages`` leaves it out for."""
    readers = Membership.objects.filter(group_id=message.group_id, bye=False)
    if message.owner_only:
        readers = readers.filter(Q(member_id=message.group.owner_id) | Q(pk=message.sender_id))
    readers.update(message_count=F("message_count") + 1)


def count_for_newcomer(sender, instance: Membership, created: bool, raw=False, **kwargs):
    """A new membership (post_save) starts with the count of what it can see already: the
    group's history, as ``visible_messages`` shows it to them."""
    if created and not raw:
        count = visible_messages(instance).count()
        if count:
            Membership.objects.filter(pk=instance.pk).update(message_count=count)
            instance.message_count = count


def recount(group: Group) -> None:
    """Count again what each member of ``group`` can see: for messages stored other than
    through ``post`` (a benchmark's bulk insert)."""
    for membership in group.memberships.select_related("group"):
        count = visible_messages(membership).count()
        Membership.objects.filter(pk=membership.pk).update(message_count=count)


def grand_total() -> int:
    # One row by its unique name, asked on every poll: plain SQL, as the ORM's query building
    # cost more than the query itself.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {Counter._meta.db_table} WHERE name = %s", [GRAND_TOTAL])
        row = cursor.fetchone()
    return row[0] if row else 0


# --- Reading ---------------------------------------------------------------------------------


def visible_messages(membership: Membership):
    """The messages of the group that ``membership`` can see (SPEC §3): none sent while they
    were away (``bye``), and in a reply_to_owner group only their own and the owner's."""
    away = Absence.objects.filter(
        Q(returned_at__isnull=True) | Q(returned_at__gt=OuterRef("created_at")),
        membership_id=membership.pk,
        left_at__lte=OuterRef("created_at"),
    )
    messages = Message.objects.filter(group_id=membership.group_id).exclude(Exists(away))
    if membership.member_id == membership.group.owner_id:
        return messages
    # Their own: a member has one membership in a group, so the messages they sent are those
    # of this membership. Compared by id, not through a join to the sender's membership, so
    # the newest messages are read from the (group, seq) index however long the history.
    return messages.filter(Q(owner_only=False) | Q(sender_id=membership.pk))


# What /message/get shows of a message, read as plain rows: building model instances for a
# hundred messages on every poll cost more than the query.
READ_FIELDS = ("id", "seq", "text", "created_at", "sender_name", "sender_number", "sender_id")
MessageRow = namedtuple("MessageRow", ("pk", *READ_FIELDS[1:]))

# visible_messages' rule once more in SQL, for the read every poll makes (building and
# compiling the ORM's query took more Python than the rest of the call). Parameters: the group,
# the membership, whether it is the owner's, the membership again, the lowest and highest id,
# how many. tests/test_read_path.py checks that both rules show the same messages.
_READ = (
    f"SELECT {sql.select_list(Message, 'm', READ_FIELDS)} FROM {Message._meta.db_table} m"
    f" WHERE m.group_id = %s AND NOT EXISTS (SELECT 1 FROM {Absence._meta.db_table} a"
    " WHERE a.membership_id = %s AND a.left_at <= m.created_at"
    " AND (a.returned_at IS NULL OR a.returned_at > m.created_at))"
    " AND (%s OR NOT m.owner_only OR m.sender_id = %s)"
    " AND m.seq BETWEEN %s AND %s ORDER BY m.seq {order} LIMIT %s"
)
_READ_OLDEST_FIRST = _READ.format(order="ASC")
_READ_NEWEST_FIRST = _READ.format(order="DESC")
LAST_SEQ = 2**31 - 1  # the largest id the column holds


def read(membership: Membership, message_id=None, first=None, last=None) -> list[MessageRow]:
    """/message/get: one message, a range (at most 500, oldest first), or the latest 100:
    what ``visible_messages`` shows ``membership``."""
    is_owner = membership.member_id == membership.group.owner_id
    seen_by = [membership.group_id, membership.pk, is_owner, membership.pk]
    if message_id is not None:
        statement, params = _READ_OLDEST_FIRST, [message_id, message_id, 1]
    elif first is None and last is None:
        statement, params = _READ_NEWEST_FIRST, [1, LAST_SEQ, GET_DEFAULT_COUNT]
    else:
        statement, params = _READ_OLDEST_FIRST, [first or 1, last or LAST_SEQ, GET_MAX_RANGE]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*seen_by, *params])
        rows = [MessageRow(*sql.converted(row, Message, READ_FIELDS)) for row in cursor.fetchall()]
    return rows if statement is _READ_OLDEST_FIRST else rows[::-1]


def describe(message, receipts: dict | None = None) -> dict:
    described = {
        "id": message.seq,
        "txt": message.text,
        "time": int(message.created_at.timestamp()),
        "name": message.sender_name or None,
        "number": message.sender_number or None,
    }
    if receipts is not None:
        described["receipts"] = receipts
    return described


# Where a recipient's text stands (SPEC §8 "Receipts"), from the statuses of its parts: the
# first that any part is in, in this order, names it (a part still pending makes the whole
# text pending; a failed part makes it failed).
RECEIPT_ORDER = (
    ("pending", (Delivery.Status.QUEUED, Delivery.Status.SENDING)),
    ("failed", (Delivery.Status.FAILED, Delivery.Status.UNDELIVERED)),
    ("unknown", (Delivery.Status.UNKNOWN,)),
    ("sent", (Delivery.Status.SENT,)),
    ("delivered", (Delivery.Status.DELIVERED,)),
    ("skipped", (Delivery.Status.SKIPPED,)),
)
RECEIPT_KEYS = [key for key, _ in RECEIPT_ORDER]


# Per message of a group within a range of ids (and, for a member, sent by them), how many
# recipients stand at each position of RECEIPT_ORDER: each recipient's parts are ranked in the
# database and only the counts come back. A range rather than a list of ids keeps the text of
# the query the same on every poll, so neither psycopg nor PostgreSQL parses a new one.
_RANK = " ".join(
    f"WHEN d.status IN ({sql.placeholders(statuses)}) THEN {position}"
    for position, (_, statuses) in enumerate(RECEIPT_ORDER)
)
_RANK_PARAMS = [str(status) for _, statuses in RECEIPT_ORDER for status in statuses]
_RECEIPTS_SQL = f"""
    SELECT message_id, rank, COUNT(*) FROM (
        SELECT d.message_id, MIN(CASE {_RANK} END) AS rank
        FROM {Delivery._meta.db_table} d JOIN {Message._meta.db_table} m ON m.id = d.message_id
        WHERE m.group_id = %s AND m.seq BETWEEN %s AND %s {{sender}}
        GROUP BY d.message_id, d.recipient_id
    ) AS per_recipient GROUP BY message_id, rank
"""
_RECEIPTS_OF_ALL = _RECEIPTS_SQL.format(sender="")
_RECEIPTS_OF_SENDER = _RECEIPTS_SQL.format(sender="AND m.sender_id = %s")


def receipts(viewer: Membership, messages: list) -> dict[int, dict]:
    """The receipts the viewer may see, by message pk: on the messages it sent, and on every
    message for the group's owner. Counts recipients, not parts."""
    is_owner = viewer.member_id == viewer.group.owner_id
    shown = [m.pk for m in messages if is_owner or (m.sender_id and m.sender_id == viewer.pk)]
    if not shown:
        return {}
    found = {pk: dict.fromkeys(RECEIPT_KEYS, 0) for pk in shown}
    seqs = [m.seq for m in messages]
    params = [*_RANK_PARAMS, viewer.group_id, min(seqs), max(seqs)]
    with connection.cursor() as cursor:
        if is_owner:
            cursor.execute(_RECEIPTS_OF_ALL, params)
        else:
            cursor.execute(_RECEIPTS_OF_SENDER, [*params, viewer.pk])
        for message_id, position, recipients in cursor.fetchall():
            if message_id in found:  # the range may hold messages this viewer does not see
                found[message_id][RECEIPT_KEYS[position]] = recipients
    return found
