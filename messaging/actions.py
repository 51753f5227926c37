"""Sending and reading group messages (SPEC §3).

``send`` is the one way a message enters a group, whether it comes from the API, an SMS or
the scheduler: star commands act and reply, anything else is stored under the next per-group
id and fanned out by the workers once the transaction commits.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from accounts.billing import check_can_send
from groupflier.api.errors import ApiError, ErrorType
from groups.models import Absence, Group, Membership
from messaging.command_mark import command_word
from messaging.models import Counter, Message

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
    """Store a message under the group's next id and queue its fan-out on commit.

    ``sender`` None is a system notice. The group's row lock makes concurrent posts take
    turns for the id, so ids run 1, 2, 3... with no gap and no repeat.
    """
    from messaging.tasks import fan_out

    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        last = group.messages.aggregate(last=Max("seq"))["last"] or 0
        owner_only = bool(
            group.reply_to_owner
            and sender is not None
            and sender.member_id != group.owner_id
            and not sender.broadcast
        )
        message = Message.objects.create(
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
        if sender is not None:
            Membership.objects.filter(pk=sender.pk).update(last_exchanged_at=timezone.now())
        count_message()
        transaction.on_commit(lambda: fan_out.delay(message.pk), robust=True)
    return message


def count_message() -> None:
    updated = Counter.objects.filter(name=GRAND_TOTAL).update(value=F("value") + 1)
    if not updated:
        Counter.objects.get_or_create(name=GRAND_TOTAL, defaults={"value": 0})
        Counter.objects.filter(name=GRAND_TOTAL).update(value=F("value") + 1)


def grand_total() -> int:
    return Counter.objects.filter(name=GRAND_TOTAL).values_list("value", flat=True).first() or 0


# --- Reading ---------------------------------------------------------------------------------


def visible_messages(membership: Membership):
    """The messages of the group that ``membership`` can see (SPEC §3): none sent while they
    were away (``bye``), and in a reply_to_owner group only their own and the owner's."""
    away = Absence.objects.filter(
        membership_id=membership.pk, left_at__lte=OuterRef("created_at")
    ).filter(Q(returned_at__isnull=True) | Q(returned_at__gt=OuterRef("created_at")))
    messages = Message.objects.filter(group_id=membership.group_id).exclude(Exists(away))
    if membership.member_id == membership.group.owner_id:
        return messages
    return messages.filter(Q(owner_only=False) | Q(sender__member_id=membership.member_id))


def read(membership: Membership, message_id=None, first=None, last=None) -> list[Message]:
    """/message/get: one message, a range (at most 500, oldest first), or the latest 100."""
    messages = visible_messages(membership)
    if message_id is not None:
        return list(messages.filter(seq=message_id))
    if first is None and last is None:
        return list(messages.order_by("-seq")[:GET_DEFAULT_COUNT])[::-1]
    if first is not None:
        messages = messages.filter(seq__gte=first)
    if last is not None:
        messages = messages.filter(seq__lte=last)
    return list(messages.order_by("seq")[:GET_MAX_RANGE])


def describe(message: Message) -> dict:
    return {
        "id": message.seq,
        "txt": message.text,
        "time": int(message.created_at.timestamp()),
        "name": message.sender_name or None,
        "number": message.sender_number or None,
    }
