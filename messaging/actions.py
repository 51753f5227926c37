"""Sending and reading group messages (SPEC §3).

``send`` is the one way a message enters a group, whether it comes from the API, an SMS or
the scheduler: star commands act and reply, anything else is stored under the next per-group
id and fanned out by the workers once the transaction commits.
"""

import logging
from collections import namedtuple
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.billing import check_account_may_send, check_can_send, hold_parts, holds
from accounts.models import Account
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
    check_present(membership)
    return Sent(message=post(membership.group, membership, text, cc=cc, source=source))


def check_present(membership: Membership) -> None:
    if membership.bye:
        # They left: *hi brings them back; until then they are not in the conversation.
        raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)


def check_may_send(membership: Membership) -> None:
    """Permission and state checks for a message (not a star command) from ``membership``,
    ahead of sending it (a schedule); ``post`` makes the same checks when it stores one."""
    check_present(membership)
    check_group_may_send(membership.group.status)
    check_can_send(membership.group)


def check_group_may_send(status: str) -> None:
    if status != Group.Status.ACTIVE:
        raise ApiError(ErrorType.SUSPENDED, "pending")


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
    turns for the id, so ids run 1, 2, 3... with no gap and no repeat. A member's message is
    refused (``SUSPENDED``) by a group that is not active or is suspended, or whose owner's
    account is (``check_may_send``), as they stand under that lock. The whole fan-out's
    cost is held on the owner's account first (SPEC §5): without cover a member's message is
    refused (``SUSPENDED``, ``balance``) and nothing is stored; a notice is held regardless.

    Every send runs this, so its statements are written out, few and plain (bench/api): the
    ORM's building of them cost twice what the database did.
    """
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_AND_LOCK, [group.pk])
            owner_id, reply_to_owner, status, suspended, account_type, balance = cursor.fetchone()
            if sender is not None:
                check_group_may_send(status)
                check_account_may_send(suspended, account_type, balance)
            message = Message(
                group=group,
                sender=sender,
                sender_name=sender.name if sender else "",
                sender_number=str(sender.member.number) if sender else "",
                text=text,
                cc=cc,
                owner_only=bool(
                    reply_to_owner
                    and sender is not None
                    and sender.member_id != owner_id
                    and not sender.broadcast
                ),
                source=source,
                created_at=now,
            )
            # A free account holds nothing: its recipients are not counted.
            paying = holds(account_type)
            parts = len(get_gateway().split(text, message.sender_name)) if paying else 0
            # With the message: those it is hidden from and, when no hold follows, the grand
            # total, whose row every send in every group locks until its commit: taken last.
            with_it = [_hide_from_absent(message, owner_id, now)]
            if not paying:
                with_it.append(COUNT_MESSAGE)
            message.pk, message.seq, message.held_parts = _insert(
                cursor, message, owner_id, parts, with_it
            )
            message._state.adding, message._state.db = False, connection.alias
            if paying:
                hold_parts(
                    owner_id,
                    message.held_parts,
                    reference=f"hold:message:{message.pk}",
                    note=f"message {message.pk}: {message.held_parts} SMS part(s) held",
                    required=sender is not None,
                )
                cursor.execute(*COUNT_MESSAGE)
        transaction.on_commit(lambda: queue_fan_out(message.pk))
    return message


# One more message in the group's total, which takes the group's row lock that concurrent
# posts take in turn (a refused message rolls it back), and the group's owner and rule, what
# may stop a member's message, and the owner's account (no account: NULLs), read as they stand.
# (No alias for the group's table: SQLite's RETURNING knows it only by its name.)
_GROUP = Group._meta.db_table
_ACCOUNT = f"SELECT a.{{}} FROM {Account._meta.db_table} a WHERE a.member_id = {_GROUP}.owner_id"
_COUNT_AND_LOCK = (
    f"UPDATE {_GROUP} SET message_total = message_total + 1 WHERE id = %s"
    " RETURNING owner_id, reply_to_owner, status, suspended,"
    f" ({_ACCOUNT.format('type')}), ({_ACCOUNT.format('balance')})"
)
# The next id is read by the INSERT, a statement after the lock's: in PostgreSQL's READ
# COMMITTED each statement sees what was committed before it began, so a post that waited for
# the lock sees the message of the post it waited for (read in the locking statement itself,
# it would not, and two messages would get the same id).
_INSERT_MESSAGE = """
    INSERT INTO messaging_message (group_id, seq, sender_id, sender_name, sender_number, text,
                                   cc, owner_only, source, created_at, fanned_out_at, held_parts)
    VALUES (%s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messaging_message WHERE group_id = %s),
            %s, %s, %s, %s, %s, %s, %s, %s, NULL, ({takers}) * %s)
    RETURNING id, seq, held_parts
"""


def _insert(
    cursor, message: Message, owner_id: int, parts: int, with_it: list[tuple[str, list]]
) -> tuple[int, int, int]:
    """Store ``message`` under the group's next id, with its held parts: ``parts`` (a text's)
    for each recipient who takes texts, as the fan-out would send now (none to hold: 0), and
    make the writes ``with_it`` in the same statement (``sql.together``). Answers its pk, id
    and held parts."""
    from messaging.fanout import takers

    count, count_params = takers(message, owner_id) if parts else ("0", [])
    created_at = connection.ops.adapt_datetimefield_value(message.created_at)
    sql.together(
        cursor,
        with_it,
        _INSERT_MESSAGE.format(takers=count),
        [
            message.group_id,
            message.group_id,
            message.sender_id,
            message.sender_name,
            message.sender_number,
            message.text,
            message.cc,
            message.owner_only,
            message.source,
            created_at,
            *count_params,
            parts,
        ],
    )
    return cursor.fetchone()


def queue_fan_out(message_id: int) -> None:
    """Hand the stored message to the workers. A broker that cannot be reached now does not
    fail the send: the message is stored, and the sweep fans out what never started."""
    from messaging.tasks import fan_out

    try:
        # Nothing to declare (workers declare the queues they take; the message goes straight
        # to the queue's list) and its arguments' repr given: both cost more CPU than the rest
        # of the publish they were part of (bench/client_calls).
        fan_out.apply_async((message_id,), declare=(), argsrepr=f"({message_id},)", kwargsrepr="{}")
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep re-drives
        logger.warning(
            "Could not queue the fan-out of message %s (%s); the sweep will", message_id, exc
        )


# One more message in the grand total (/message/grand/total), its row made by the first
# message of an installation.
_COUNTER = Counter._meta.db_table
COUNT_MESSAGE = (
    f"INSERT INTO {_COUNTER} (name, value) VALUES (%s, 1)"
    f" ON CONFLICT (name) DO UPDATE SET value = {_COUNTER}.value + 1",
    [GRAND_TOTAL],
)


def _hide_from_absent(message: Message, owner_id: int, now) -> tuple[str, list]:
    """The statement that adds ``message`` to the ``hidden_count`` of the memberships that
    cannot see it and marks the sender's membership as the last exchange.

    Those away now (``bye``) cannot: the statement runs under the group's row lock, which
    leaving and coming back (``groups.roster``) take too, so they are exactly those whose
    absence covers the message, as ``visible_messages`` has it. An owner-only message (a reply
    in a reply_to_owner group) is hidden from everyone but the owner and its sender too: only
    then does a message write to every membership of the group."""
    hidden, params = "bye", []
    reached = "(group_id = %s AND bye)"
    if message.owner_only:
        hidden = "bye OR NOT (member_id = %s OR id = %s)"
        params = [owner_id, message.sender_id]
        reached = "group_id = %s"
    return (
        f"UPDATE {Membership._meta.db_table}"
        f" SET hidden_count = hidden_count + CASE WHEN {hidden} THEN 1 ELSE 0 END,"
        " last_exchanged_at = CASE WHEN id = %s THEN %s ELSE last_exchanged_at END"
        f" WHERE {reached} OR id = %s",
        [
            *params,
            message.sender_id,
            connection.ops.adapt_datetimefield_value(now),
            message.group_id,
            message.sender_id,
        ],
    )


def count_for_newcomer(sender, instance: Membership, created: bool, raw=False, **kwargs):
    """A new membership (post_save) starts hidden from what it cannot see of the group's
    history, as ``visible_messages`` shows it to them (in a reply_to_owner group, the others'
    replies to the owner)."""
    if created and not raw:
        total = Group.objects.filter(pk=instance.group_id).values_list("message_total").get()[0]
        hidden = total - visible_messages(instance).count()
        if hidden:
            Membership.objects.filter(pk=instance.pk).update(hidden_count=hidden)
        instance.hidden_count = hidden


def recount(group: Group) -> None:
    """Count again the messages of ``group`` and what each of its members cannot see: after
    messages are stored or deleted other than through ``post`` (the admin's delete, a
    benchmark's bulk insert)."""
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        total = Message.objects.filter(group=group).count()
        Group.objects.filter(pk=group.pk).update(message_total=total)
        group.message_total = total
        for membership in group.memberships.all():
            membership.group = group
            hidden = total - visible_messages(membership).count()
            Membership.objects.filter(pk=membership.pk).update(hidden_count=hidden)


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
