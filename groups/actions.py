"""Group rules: creating groups and describing a member's groups (SPEC §2)."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actions import open_account
from groupflier.api.errors import ApiError, ErrorType
from groups.addresses import choose_address, is_pool_number, lock_members
from groups.models import Group, Membership
from members.actions import get_or_create_member, send_login_pin
from members.models import Member


@dataclass
class NewGroup:
    name: str
    creator_name: str
    creator_number: str
    members: list[tuple[str, str]]  # (name, E.164 number) of everyone but the creator
    email: str | None = None
    source: str | None = None
    reply_to_owner: bool = False
    send_pin: bool = False


@dataclass
class Created:
    group: Group
    creator: Membership
    first_group: bool


def check_new_group(spec: NewGroup) -> None:
    """The state checks of /group/create, in the order of SPEC §1."""
    everyone = [(spec.creator_name, spec.creator_number), *spec.members]
    for _, number in everyone:
        if is_pool_number(number):
            raise ApiError(ErrorType.GROUP_FLIER_NUMBER, number)
    blocked = set(
        str(n)
        for n in Member.objects.filter(
            number__in=[n for _, n in everyone], blocked=True
        ).values_list("number", flat=True)
    )
    for _, number in everyone:
        if number in blocked:
            raise ApiError(ErrorType.BLOCKED_NUMBER, number)
    seen_numbers, seen_names = set(), set()
    for name, number in everyone:
        if number in seen_numbers:
            raise ApiError(ErrorType.DUP_NUMBER, number)
        if name.lower() in seen_names:
            raise ApiError(ErrorType.DUP_NAME, name)
        seen_numbers.add(number)
        seen_names.add(name.lower())
    if not spec.members:
        raise ApiError(ErrorType.NOT_ENOUGH_MEMBERS)
    if len(everyone) > settings.GROUPFLIER_MAX_GROUP_MEMBERS:
        raise ApiError(ErrorType.TOO_MANY_MEMBERS)


def pending_groups_of(member: Member):
    cutoff = timezone.now() - settings.GROUPFLIER_PENDING_GROUP_TTL
    return Group.objects.filter(owner=member, status=Group.Status.PENDING, created_at__gt=cutoff)


@transaction.atomic
def create_group(spec: NewGroup, session_member: Member | None) -> Created:
    check_new_group(spec)
    creator = get_or_create_member(spec.creator_number)
    # A group is live at once only when its creator has proved the number with a session.
    active = session_member is not None and session_member.pk == creator.pk
    lock_members([creator])
    if not active and pending_groups_of(creator).count() >= settings.GROUPFLIER_MAX_PENDING_GROUPS:
        raise ApiError(ErrorType.TOO_MANY_PENDING_GROUPS)

    account, first_group = open_account(creator, email=spec.email)
    now = timezone.now()
    group = Group.objects.create(
        name=spec.name,
        owner=creator,
        status=Group.Status.ACTIVE if active else Group.Status.PENDING,
        activated_at=now if active else None,
        reply_to_owner=spec.reply_to_owner,
        source=spec.source or "",
    )
    people = [(spec.creator_name, creator)] + [
        (name, get_or_create_member(number)) for name, number in spec.members
    ]
    lock_members([member for _, member in people])
    memberships = [
        Membership.objects.create(
            group=group, member=member, name=name, address=choose_address(member)
        )
        for name, member in people
    ]
    if spec.send_pin:
        send_login_pin(creator)
    return Created(group=group, creator=memberships[0], first_group=first_group)


def flag(value: bool) -> int:
    return 1 if value else 0


def group_suspended(group: Group) -> bool:
    account = getattr(group.owner, "account", None)
    return group.suspended or bool(account and account.suspended)


def describe_memberships(member: Member) -> list[dict]:
    """The `groups` of /member/groups: each group the member is in, seen from the member's side.

    A pending group shows only to its creator, who is the one to activate it.
    """
    mine = (
        Membership.objects.filter(member=member)
        .exclude(group__status=Group.Status.DELETED)
        .select_related("group__owner__account", "address")
        .order_by("id")
    )
    mine = [m for m in mine if m.group.status == Group.Status.ACTIVE or m.is_owner]
    roster = {}
    for other in (
        Membership.objects.filter(group_id__in=[m.group_id for m in mine])
        .select_related("member", "group")
        .order_by("id")
    ):
        roster.setdefault(other.group_id, []).append(other)

    described = []
    for membership in mine:
        group = membership.group
        members = roster.get(group.pk, [])
        if group.disable_who and not membership.is_owner:
            # *who is off for members; the roster would give away what it hides.
            members = [m for m in members if m.is_owner or m.member_id == member.pk]
        described.append(
            {
                "name": group.name,
                "number": str(membership.address.number) if membership.address else None,
                "bye": flag(membership.bye),
                "sms": flag(membership.sms),
                "owner": flag(membership.is_owner),
                "notify_on_add": flag(group.notify_on_add),
                "reply_to_owner": flag(group.reply_to_owner),
                "disable_who": flag(group.disable_who),
                "disable_add": flag(group.disable_add),
                "is_public": flag(group.is_public),
                "invite_code": group.invite_code,
                "description": group.description,
                "suspended": flag(group_suspended(group)),
                "pending": flag(group.status == Group.Status.PENDING),
                "members": [
                    {
                        "name": m.name,
                        "number": str(m.member.number),
                        "bye": flag(m.bye),
                        "owner": flag(m.is_owner),
                        "broadcast": flag(m.broadcast),
                    }
                    for m in members
                ],
            }
        )
    return described
