"""The texts a group sends on its own: welcomes and notices.

They are system texts (free, SPEC §5), each sent from the recipient's own group number so a
reply reaches the group. A pending group sends nothing: its members hear of it only when it is
activated. A member who left (``bye``) or turned SMS off (``sms=0``) gets none of them, and
``queue_system_sms`` skips numbers that texted STOP.
"""

from groups.models import Group, Membership
from texts.actions import queue_system_sms
from texts.marks import name_commands
from texts.models import OutboundSms

HOW_TO_LEAVE = "Reply *bye to leave the group, STOP to stop all GroupFlier texts."


def _reachable(membership: Membership) -> bool:
    return (
        membership.group.status == Group.Status.ACTIVE
        and not membership.bye
        and membership.sms
        and membership.address_id is not None
    )


def _text(membership: Membership, text: str, kind: str) -> None:
    queue_system_sms(
        str(membership.member.number),
        name_commands(text),
        kind,
        from_number=str(membership.address.number),
    )


def _owner_name(group: Group) -> str:
    owner = group.memberships.filter(member_id=group.owner_id).first()
    return owner.name if owner else "the owner"


def welcome_text(membership: Membership, added_by: Membership | None) -> str:
    group = membership.group
    if membership.is_owner:
        opening = f'Your GroupFlier group "{group.name}" is live.'
    elif added_by is None:
        opening = f'Welcome to the GroupFlier group "{group.name}".'
    else:
        opening = f'{added_by.name} added you to the GroupFlier group "{group.name}".'
    if group.reply_to_owner and not (membership.is_owner or membership.broadcast):
        reach = f"Texts to this number go to {_owner_name(group)}."
    else:
        reach = "Texts to this number go to the group."
    return f"{opening} {reach} {HOW_TO_LEAVE}"


def welcome(membership: Membership, added_by: Membership | None = None) -> None:
    """Tell a member they are in the group, how to reach it and how to leave.

    ``added_by`` is whoever put them there; None when they joined by themselves.
    """
    if _reachable(membership):
        _text(membership, welcome_text(membership, added_by), OutboundSms.Kind.WELCOME)


def welcome_everyone(group: Group) -> None:
    """The welcomes of a group that has just gone live: the creator added everyone else."""
    memberships = list(group.memberships.select_related("member", "address", "group"))
    creator = next((m for m in memberships if m.member_id == group.owner_id), None)
    for membership in memberships:
        welcome(membership, added_by=creator)


def announce_new_member(new: Membership, added_by: Membership | None) -> None:
    """The ``notify_on_add`` notice: the other active members hear who came in.

    In a ``reply_to_owner`` group members do not hear from each other, so only the owner is
    told. Whoever added the member knows already. The messaging pipeline may later store this
    as a group message with no sender; it is kept in this one function for that.
    """
    group = new.group
    if not group.notify_on_add or group.status != Group.Status.ACTIVE:
        return
    if added_by is None:
        text = f'{new.name} joined "{group.name}".'
    else:
        text = f'{added_by.name} added {new.name} to "{group.name}".'
    others = group.memberships.exclude(pk=new.pk).select_related("member", "address", "group")
    if added_by is not None:
        others = others.exclude(pk=added_by.pk)
    if group.reply_to_owner:
        others = others.filter(member_id=group.owner_id)
    for other in others:
        if _reachable(other):
            _text(other, text, OutboundSms.Kind.NOTICE)


def removed(membership: Membership) -> None:
    """Texts stop without a word otherwise; the member would wonder why the group went quiet."""
    if _reachable(membership):
        text = (
            f'You were removed from the GroupFlier group "{membership.group.name}". '
            "You will get no more texts from it."
        )
        _text(membership, text, OutboundSms.Kind.NOTICE)


def group_deleted(group: Group, deleted_by: Membership) -> None:
    """Members would otherwise keep texting a number that no longer reaches anyone."""
    text = (
        f'The GroupFlier group "{group.name}" was deleted by {deleted_by.name}. '
        "You will get no more texts from it."
    )
    for membership in group.memberships.exclude(pk=deleted_by.pk).select_related(
        "member", "address", "group"
    ):
        if _reachable(membership):
            _text(membership, text, OutboundSms.Kind.NOTICE)
