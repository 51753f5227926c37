"""Per-membership group numbers from the pool (SPEC §2)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import Membership, PoolNumber
from groups.pool import sync_pool_from_settings
from tests.conftest import MEMBER, make_active_group

pytestmark = pytest.mark.django_db


def other_person(n):
    return f"+1415555{3000 + n:04d}"


def test_the_pool_is_filled_from_the_setting(settings):
    settings.GROUPFLIER_POOL_NUMBERS = ["(202) 555-0150", "+12025550151"]
    sync_pool_from_settings()
    assert PoolNumber.objects.filter(number__in=["+12025550150", "+12025550151"]).count() == 2
    sync_pool_from_settings()  # running again adds nothing
    assert PoolNumber.objects.filter(number="+12025550150").count() == 1


def test_a_member_gets_a_different_number_for_each_group_while_the_pool_lasts():
    pool_size = PoolNumber.objects.filter(active=True).count()
    for n in range(pool_size):
        make_active_group(f"Group {n}", "Owner", other_person(n), [("Dad", MEMBER)])
    addresses = Membership.objects.filter(member__number=MEMBER).values_list("address", flat=True)
    assert len(set(addresses)) == pool_size


def test_past_the_pool_the_least_recently_used_number_is_shared():
    pool_size = PoolNumber.objects.filter(active=True).count()
    for n in range(pool_size):
        make_active_group(f"Group {n}", "Owner", other_person(n), [("Dad", MEMBER)])
    mine = Membership.objects.filter(member__number=MEMBER).order_by("id")
    stalest = mine[2]
    for index, membership in enumerate(mine):
        membership.last_exchanged_at = timezone.now() - timedelta(
            days=1 if membership == stalest else 0, minutes=index
        )
        membership.save(update_fields=["last_exchanged_at"])
    make_active_group("One more", "Owner", other_person(99), [("Dad", MEMBER)])
    newest = Membership.objects.filter(member__number=MEMBER).latest("id")
    assert newest.address_id == stalest.address_id


def test_an_inactive_pool_number_is_given_to_nobody_new():
    retired = PoolNumber.objects.order_by("id").first()
    retired.active = False
    retired.save()
    make_active_group("Family", "Mom", other_person(1), [("Dad", MEMBER)])
    assert not Membership.objects.filter(address=retired).exists()


def test_a_groups_members_are_spread_over_the_pool_numbers(settings):
    # SPEC §8: a fan-out then draws on every number's sending rate at once.
    settings.GROUPFLIER_POOL_NUMBERS = [f"+1202555015{n}" for n in range(10)]
    sync_pool_from_settings()
    pool_size = PoolNumber.objects.filter(active=True).count()
    people = [(f"P{n}", other_person(n)) for n in range(3 * pool_size)]
    created = make_active_group("Big", "Mom", other_person(999), people)
    per_number = Counter(created.group.memberships.values_list("address", flat=True))
    assert len(per_number) == pool_size
    assert max(per_number.values()) - min(per_number.values()) <= 1


def test_spreading_never_puts_two_of_a_members_groups_on_one_number():
    pool_size = PoolNumber.objects.filter(active=True).count()
    for n in range(pool_size):
        make_active_group(f"Group {n}", "Owner", other_person(n), [("Dad", MEMBER)])
        mine = Membership.objects.filter(member__number=MEMBER)
        assert mine.values("address").distinct().count() == mine.count()


def test_a_members_number_once_given_does_not_change():
    created = make_active_group("Family", "Mom", other_person(1), [("Dad", MEMBER)])
    given = dict(created.group.memberships.values_list("id", "address"))
    for n in range(2, 8):
        make_active_group(f"Group {n}", "Owner", other_person(n), [("Dad", MEMBER)])
    assert dict(created.group.memberships.values_list("id", "address")) == given
