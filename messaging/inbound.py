"""Texts that members send to the service's numbers (SPEC §3 carrier keywords, §4 routing).

Each gateway's webhook turns its request into one ``Inbound`` and calls ``receive``, which
answers the reply text for the sender (a webhook may return it as its auto-reply body) or
None. The fan-out of a message is left to the workers.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from groupflier import phones
from groupflier.api.errors import ApiError
from groups.models import Group, Membership, PoolNumber
from members.models import Member
from messaging import actions
from messaging.commands import explain
from messaging.models import MAX_SMS_TEXT, InboundSms, Message
from texts.actions import queue_system_sms
from texts.marks import name_commands
from texts.models import OutboundSms

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}

STOPPED = "You will get no more texts from GroupFlier. Text START to get them again."
STARTED = "Welcome back: you can get GroupFlier texts again. Text STOP to stop them."
HELP = (
    "GroupFlier group texting: text your group's number to reach everyone. *help lists "
    "commands, *bye leaves a group, STOP stops all texts."
)
STRANGER = (
    "This is GroupFlier group texting. You are not in a group on this number. To join one, "
    "text its invite code and your name."
)
# A gateway may deliver the same text twice (Group Texting calls both its keyword URL and its
# forwarding URL): the same text from the same number within this window counts once.
DUPLICATE_WINDOW_SECONDS = 120


@dataclass
class Inbound:
    sender: str  # any common format; normalised here
    text: str
    to_number: str = ""  # the number texted, when the gateway says
    gateway: str = ""


def receive(inbound: Inbound) -> str | None:
    """Act on one inbound text; the reply for its sender, or None when none is due."""
    try:
        sender = phones.normalize(inbound.sender)
    except ApiError:
        logger.warning("Inbound text from an invalid number %r ignored", inbound.sender)
        return None
    if PoolNumber.objects.filter(number=sender).exists():
        # One of our own numbers: answering it would start a loop of replies.
        logger.warning("Inbound text from the service's own number %s ignored", sender)
        return None
    to_number = _normalize_or_blank(inbound.to_number)
    # What a phone sends is kept, but for NUL, which PostgreSQL text cannot hold, and past
    # MAX_SMS_TEXT characters (phones join long texts; SPEC §3 keeps them whole up to there).
    text = inbound.text.replace("\x00", "").strip()[:MAX_SMS_TEXT].strip()
    seen = _seen_key(sender, to_number, text)
    if not cache.add(seen, 1, timeout=DUPLICATE_WINDOW_SECONDS):
        return None
    try:
        with transaction.atomic():
            record = InboundSms.objects.create(
                sender=sender, to_number=to_number, text=text, gateway=inbound.gateway
            )
            reply, group = route(sender, to_number, text)
            InboundSms.objects.filter(pk=record.pk).update(
                group=group, outcome=(reply or "delivered to the group")[:200]
            )
    except BaseException:
        # Nothing was kept: the gateway will call again, and that call must not look like a
        # repeat of this one, or the text would be lost for good.
        cache.delete(seen)
        raise
    return name_commands(reply)


def receive_and_text_back(inbound: Inbound) -> str | None:
    """``receive`` for a gateway with no reply channel of its own (the console gateway:
    ``manage.py inbound`` and the development phone page): the reply goes back as a text
    from the number texted, so the sender's phone shows it like any other."""
    with transaction.atomic():
        reply = receive(inbound)
        if reply:
            sender = phones.normalize(inbound.sender)
            to_number = _normalize_or_blank(inbound.to_number)
            # The STOP confirmation is the one text a number that has just opted out still
            # gets (SPEC §3): its own kind, which the block does not hold back.
            kind = (
                OutboundSms.Kind.STOP_CONFIRMATION if reply == STOPPED else OutboundSms.Kind.REPLY
            )
            queue_system_sms(sender, reply, kind, from_number=to_number)
    return reply


def _normalize_or_blank(number: str) -> str:
    try:
        return phones.normalize(number) if number else ""
    except ApiError:
        return ""


def _seen_key(sender: str, to_number: str, text: str) -> str:
    digest = hashlib.sha256(f"{sender}|{to_number}|{text}".encode()).hexdigest()
    return f"inbound:{digest}"


def route(sender: str, to_number: str, text: str) -> tuple[str | None, Group | None]:
    word = text.upper()
    if word in STOP_WORDS:
        block(sender)
        return STOPPED, None
    if word in START_WORDS:
        Member.objects.filter(number=sender).update(blocked=False, blocked_at=None)
        return STARTED, None
    if word in HELP_WORDS:
        return HELP, None

    member = Member.objects.filter(number=sender).first()
    if member is not None and member.blocked:
        return None, None  # they asked for no texts; a START lifts it
    joined = join_by_invite_code(sender, member, text)
    if joined is not None:
        return joined
    membership = group_for(member, to_number) if member else None
    if membership is None:
        return STRANGER, None
    try:
        sent = actions.send(membership, text, source=Message.Source.SMS)
    except ApiError as refusal:
        return explain(refusal), membership.group
    Membership.objects.filter(pk=membership.pk).update(last_exchanged_at=timezone.now())
    return sent.reply, membership.group


def block(number: str) -> None:
    """STOP: no text of any kind goes to the number until it texts START (SPEC §3)."""
    member, _ = Member.objects.get_or_create(number=number)
    Member.objects.filter(pk=member.pk).update(blocked=True, blocked_at=timezone.now())


def group_for(member: Member, to_number: str) -> Membership | None:
    """The group a text is for: the one the member reaches at ``to_number``; when that is not
    known or names several groups, the one they most recently exchanged a text with."""
    mine = (
        Membership.objects.filter(member=member, group__status=Group.Status.ACTIVE)
        .select_related("group", "member", "address")
        .order_by("-last_exchanged_at", "-id")
    )
    if to_number:
        at_number = mine.filter(address__number=to_number).first()
        if at_number is not None:
            return at_number
    return mine.first()


def join_by_invite_code(sender: str, member: Member | None, text: str):
    """A text whose first word is a group's invite code joins it, the rest being the name."""
    from groups.actions import join_group, joinable_group

    code, _, name = text.partition(" ")
    group = joinable_group(code) if code else None
    if group is None:
        return None
    if member is not None and group.memberships.filter(member=member, bye=False).exists():
        return None  # already in: it is a message to the group, not a join
    name = name.strip()
    if not name and not group.reply_to_owner:
        return f"To join {group.name}, text {code} followed by your name.", group
    if len(name) > 30:
        return "Names are at most 30 characters.", group
    try:
        with transaction.atomic():
            join_group(code, name or None, sender)
    except ApiError as refusal:
        return explain(refusal), group
    return f"You joined {group.name}. Text this number to reach everyone. *help for more.", group
