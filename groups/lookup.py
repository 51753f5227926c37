"""Turning a group `number` into the caller's membership (SPEC §2).

A group number is a pool number, shared by many groups; only together with the caller does it
name one group. Every call that takes a group number goes through ``membership_for``.
"""

from django.db import connection

from groupflier import sql
from groupflier.api.errors import ApiError, ErrorType
from groups.models import Group, HistoryStamp, Membership, PoolNumber
from members.models import Member

# The memberships a member can see and act through: deleted groups are gone for everyone; a
# pending group exists only for its creator, who is the one to activate it (its members have
# not been told about it yet). As SQL, for the look-ups every poll makes: a membership ``ms``
# of the member (the first parameter) in a group ``g`` that is active, or pending and theirs
# (the second), with its group number ``p``. Plain SQL because the ORM's building and
# compiling of the query cost more than the query itself (bench/api).
THEIRS = (
    f"ms.member_id = %s AND (g.status = '{Group.Status.ACTIVE}'"
    f" OR (g.status = '{Group.Status.PENDING}' AND g.owner_id = %s))"
)
FROM = (
    f"FROM {Membership._meta.db_table} ms JOIN {Group._meta.db_table} g ON g.id = ms.group_id"
    f" LEFT JOIN {PoolNumber._meta.db_table} p ON p.id = ms.address_id"
)
_MODELS = ((Membership, "ms"), (Group, "g"), (PoolNumber, "p"))
# With the group's history stamp, which /message/get's kept answers are checked against.
_MEMBERSHIP_FOR = (
    f"SELECT {', '.join(sql.select_list(model, alias) for model, alias in _MODELS)}, s.value"
    f" {FROM} LEFT JOIN {HistoryStamp._meta.db_table} s ON s.group_id = ms.group_id"
    f" WHERE {THEIRS} AND p.number = %s"
    " ORDER BY ms.last_exchanged_at DESC, ms.id DESC LIMIT 1"
)


def membership_for(member: Member, number: str) -> Membership:
    """The caller's membership (``THEIRS``) whose address is ``number``, or
    ``MEMBER_LOOKUP_FAILED``; its group and address come with it. A member in more groups than
    the pool holds shares an address between groups: the one they exchanged a text with most
    recently wins, as for an inbound text (SPEC §4). ``history_stamp`` is the group's
    ``HistoryStamp`` as it was read with them (None: nothing changed since it was installed).
    """
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERSHIP_FOR, [member.pk, member.pk, str(number)])
        row = cursor.fetchone()
    if row is None:
        raise ApiError(ErrorType.MEMBER_LOOKUP_FAILED)
    instances = []
    for model, _ in _MODELS:
        width = len(model._meta.concrete_fields)
        instances.append(sql.instance(model, row[:width]))
        row = row[width:]
    membership, membership.group, membership.address = instances
    membership.history_stamp = row[0]
    if membership.address_id is None:
        membership.address = None
    membership.member = member  # the caller: no need to read it again
    return membership


def message_counts(member: Member) -> list[tuple[str, int]]:
    """(group number, messages they can see) for each of ``member``'s groups
    (``THEIRS``), in the order they joined: /message/count."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.number, g.message_total - ms.hidden_count {FROM} WHERE {THEIRS}"
            " ORDER BY ms.id",
            [member.pk, member.pk],
        )
        return [(number or "", count) for number, count in cursor.fetchall()]


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
