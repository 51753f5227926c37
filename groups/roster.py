"""Who is in a group: adding, removing, renaming, leaving and coming back.

The API endpoints (/member/add, /member/remove, /member/set, /member/bye, /member/hi,
/group/join) and the star commands texted to a group (*add, *remove, *name, *bye, *hi) act
through these functions. Each takes the acting membership (see ``groups.lookup``) and plain
values, checks in the order of SPEC §1 (look-up -> permission -> state) and makes its change
under the group's row lock, so parallel changes to one group take turns.

A member who left (``bye``) keeps their seat, name and group number: they get no texts, and
*hi or /member/hi brings them back. Leaving changes delivery, not rights: the owner who left
still owns the group.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType
from groups import notices
from groups.addresses import choose_address, lock_members, refuse_pool_number
from groups.lookup import locked
from groups.models import Absence, Group, Membership
from members.actions import get_or_create_member
from members.models import Member


def named(group: Group, name: str):
    """The group's memberships going by ``name``, compared as the unique constraint does."""
    return group.memberships.alias(lower_name=Lower("name")).filter(lower_name=Lower(Value(name)))


def seats_taken(group: Group) -> int:
    """Members who left keep their seat: *hi must always find room for them."""
    return group.memberships.count()


def is_full(group: Group) -> bool:
    return seats_taken(group) >= settings.GROUPFLIER_MAX_GROUP_MEMBERS


def admit(group: Group, name: str, number: str, added_by: Membership | None) -> Membership:
    """Put ``number`` into ``group`` as ``name``: the state checks shared by add and join.

    The caller holds the group's row lock. A number that left the group (``bye``) comes back
    in, under the name given now, rather than being refused as a duplicate: being added or
    joining again is exactly the way back, and the welcome text says again how to leave.
    """
    refuse_pool_number(number)
    if Member.objects.filter(number=number, blocked=True).exists():
        raise ApiError(ErrorType.BLOCKED_NUMBER, number)
    returning = group.memberships.filter(member__number=number).first()
    if returning is not None and not returning.bye:
        raise ApiError(ErrorType.DUP_NUMBER, number)
    same_name = named(group, name)
    if returning is not None:
        same_name = same_name.exclude(pk=returning.pk)
    if same_name.exists():
        raise ApiError(ErrorType.DUP_NAME, name)
    if returning is None and is_full(group):
        raise ApiError(ErrorType.TOO_MANY_MEMBERS)

    if returning is not None:
        returning.bye, returning.name = False, name
        returning.save(update_fields=["bye", "name"])
        mark_away(returning, False)
        membership = returning
    else:
        member = get_or_create_member(number)
        lock_members([member])
        membership = Membership.objects.create(
            group=group, member=member, name=name, address=choose_address(member, group)
        )
    membership.group = group
    notices.welcome(membership, added_by)
    notices.announce_new_member(membership, added_by)
    return membership


@transaction.atomic
def add_member(actor: Membership, name: str, number: str) -> Membership:
    """/member/add and *add: ``actor`` puts someone in the group."""
    actor = locked(actor)
    group = actor.group
    if group.disable_add and not actor.is_owner:
        raise ApiError(ErrorType.DISABLED_ADD)
    if group.suspended:
        # An administrator stopped this group; adding would text welcomes from it.
        raise ApiError(ErrorType.SUSPENDED)
    # Each add texts a welcome: the group's owner's account has a daily budget (SPEC §6).
    budget = adds_budget_of(group.owner_id)
    throttles.check_adds(budget, 1)
    try:
        return admit(group, name, number, added_by=actor)
    except ApiError:
        throttles.give_back_adds(budget, 1)
        raise


def adds_budget_of(owner_id: int) -> str:
    """The budget members added to an owner's groups count against: the owner's account."""
    return f"member-{owner_id}"


def find_member(group: Group, *, number: str | None = None, name: str | None = None):
    """A membership of ``group`` by number or by name (case-insensitive), or None."""
    if number is not None:
        return group.memberships.filter(member__number=number).select_related("member").first()
    return named(group, name).select_related("member").first()


@transaction.atomic
def remove_member(
    actor: Membership, *, number: str | None = None, name: str | None = None
) -> Membership:
    """/member/remove and *remove NAME|NUMBER: the owner takes a member out for good.

    The membership row goes: the number may be added again later as a new member, and its
    group number is free for the member's next group.
    """
    actor = locked(actor)
    target = find_member(actor.group, number=number, name=name)
    if target is None:
        raise ApiError(ErrorType.NOT_FOUND)
    if not actor.is_owner:
        raise ApiError(ErrorType.NOT_OWNER)
    if target.pk == actor.pk:
        raise ApiError(ErrorType.NOT_SELF)
    target.group = actor.group
    notices.removed(target)
    target.delete()
    return target


@transaction.atomic
def set_member(
    actor: Membership,
    *,
    number: str | None = None,
    name: str | None = None,
    sms: bool | None = None,
    broadcast: bool | None = None,
) -> Membership:
    """/member/set and *name: a member's own settings; the owner's for anyone by ``number``.

    ``broadcast`` (speaking to everyone in a reply_to_owner group) is the owner's to grant,
    even to themselves.
    """
    actor = locked(actor)
    group = actor.group
    target = actor
    if number is not None and number != str(actor.member.number):
        target = find_member(group, number=number)
        if target is None:
            raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)
        target.group = group
        if not actor.is_owner:
            raise ApiError(ErrorType.NOT_OWNER)
    if broadcast is not None and not actor.is_owner:
        raise ApiError(ErrorType.INVALID_BROADCAST)
    if name is not None and named(group, name).exclude(pk=target.pk).exists():
        raise ApiError(ErrorType.NAME_IN_USE, name)

    changes = {"name": name, "sms": sms, "broadcast": broadcast}
    changed = [field for field, value in changes.items() if value is not None]
    for field in changed:
        setattr(target, field, changes[field])
    if changed:
        target.save(update_fields=changed)
    return target


def rename(actor: Membership, name: str) -> Membership:
    """*name NEWNAME."""
    return set_member(actor, name=name)


def _set_bye(actor: Membership, bye: bool) -> bool:
    """True when it changed anything (a star command then answers ``refresh``)."""
    with transaction.atomic():
        actor = locked(actor)
        changed = bool(Membership.objects.filter(pk=actor.pk, bye=not bye).update(bye=bye))
        if changed:
            mark_away(actor, bye)
        return changed


def mark_away(membership: Membership, away: bool) -> None:
    """Open an absence when the member leaves, close it when they come back."""
    now = timezone.now()
    if away:
        Absence.objects.create(membership=membership, left_at=now)
    else:
        membership.absences.filter(returned_at__isnull=True).update(returned_at=now)


def leave(actor: Membership) -> bool:
    """/member/bye and *bye: no more texts from the group until *hi. Leaving twice is fine."""
    return _set_bye(actor, True)


def rejoin(actor: Membership) -> bool:
    """/member/hi and *hi: back in, with the seat, name and group number kept for them."""
    return _set_bye(actor, False)
