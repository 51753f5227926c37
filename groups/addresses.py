"""Which pool number a member texts to reach each of their groups (SPEC §2, §8)."""

from django.db.models import Count, Max

from groupflier.api.errors import ApiError, ErrorType
from groups.models import Group, Membership, PoolNumber
from members.models import Member


def is_pool_number(number: str) -> bool:
    return PoolNumber.objects.filter(number=number).exists()


def refuse_pool_number(number: str) -> None:
    if is_pool_number(number):
        raise ApiError(ErrorType.GROUP_FLIER_NUMBER, number)


def lock_members(members: list[Member]) -> None:
    """Lock the members' rows, in id order so two transactions cannot deadlock.

    Address choice reads a member's other memberships; holding the row makes parallel joins
    and adds for the same member take turns, so no two get the same free number.
    """
    list(Member.objects.select_for_update().filter(pk__in=[m.pk for m in members]).order_by("pk"))


def choose_address(member: Member, group: Group) -> PoolNumber:
    """The member's number for ``group``: among the pool numbers none of their other groups
    uses, the one fewest of ``group``'s members have (SPEC §8), so that a fan-out to the
    group draws on every number's sending rate at once; else the least recently used one.
    Ties go to a random one, so that small groups do not all crowd the first numbers.

    The caller holds the member's row lock (``lock_members``) until it commits.
    """
    pool = list(PoolNumber.objects.filter(active=True).order_by("id"))
    if not pool:
        raise ApiError(
            ErrorType.SERVER_ERROR, "the pool of group numbers is empty", http_status=500
        )
    held = Membership.objects.filter(member=member, address__isnull=False)
    in_use = set(held.values_list("address_id", flat=True))
    free = [number for number in pool if number.pk not in in_use]
    if free:
        load = dict(
            Membership.objects.filter(group=group, address__isnull=False)
            .values("address_id")
            .annotate(members=Count("id"))
            .values_list("address_id", "members")
        )
        turn = {number.pk: (index - group.pk) % len(pool) for index, number in enumerate(pool)}
        return min(free, key=lambda number: (load.get(number.pk, 0), turn[number.pk]))
    last_used = dict(
        held.values("address_id")
        .annotate(last=Max("last_exchanged_at"))
        .values_list("address_id", "last")
    )
    return min(pool, key=lambda number: last_used[number.pk])
