"""Turning a group `number` into the caller's membership (SPEC §2).

A group number is a pool number, shared by many groups; only together with the caller does it
name one group. Every call that takes a group number goes through ``membership_for``.
"""

from django.db.models import Q

from groupflier.api.errors import ApiError, ErrorType
from groups.models import Group, Membership
from members.models import Member


def memberships_of(member: Member):
    """The memberships ``member`` can see and act through.

    Deleted groups are gone for everyone; a pending group exists only for its creator, who is
    the one to activate it (its members have not been told about it yet).
    """
    return Membership.objects.filter(
        Q(member=member),
        Q(group__status=Group.Status.ACTIVE)
        | Q(group__status=Group.Status.PENDING, group__owner=member),
    )


def membership_for(member: Member, number: str) -> Membership:
    """The caller's membership (``memberships_of``) whose address is ``number``, or
    ``MEMBER_LOOKUP_FAILED``. A member in more groups than the pool holds shares an address
    between groups: the one they exchanged a text with most recently wins, as for an inbound
    text (SPEC §4).
    """
    membership = (
        memberships_of(member)
        .filter(address__number=number)
        .select_related("group", "address")
        .order_by("-last_exchanged_at", "-id")
        .first()
    )
    if membership is None:
        raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)
    membership.member = member  # the caller: no need to read it again
    return membership


def locked(membership: Membership) -> Membership:
    """``membership`` read again under its group's row lock, for a change to the group.

    Changes to one group take turns on its row, so capacity, duplicate and owner checks see
    every earlier change. A membership removed, or a group deleted, since it was looked up is
    ``MEMBER_LOOKUP_FAILED``, as if the call had come a moment later.
    """
    group = Group.objects.select_for_update().filter(pk=membership.group_id).first()
    fresh = Membership.objects.filter(pk=membership.pk).select_related("member", "address").first()
    if group is None or fresh is None or group.status == Group.Status.DELETED:
        raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)
    fresh.group = group
    return fresh
