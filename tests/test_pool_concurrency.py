"""Group numbers and capacity under parallel joins and adds, on real PostgreSQL transactions.

Each thread has its own database connection, as parallel web requests do; a barrier starts
them together so their transactions overlap.
"""

import threading

import pytest
from django.db import connection
from django.test import Client

from groupflier.api.errors import ApiError
from groups import roster
from groups.actions import join_group
from groups.models import Group, Membership, PoolNumber
from tests.conftest import make_active_group
from tests.group_helpers import membership_of

pytestmark = pytest.mark.django_db(transaction=True)

TRAVELLER = "+14155550170"


def owner_number(n):
    return f"+1415555{1800 + n:04d}"


def in_parallel(*calls) -> list:
    """Run each call in its own thread and connection; the answer of each, in order: what it
    returned, the token of the ApiError it raised, or the repr of any other exception."""
    barrier = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            answers[index] = call()
        except ApiError as error:
            answers[index] = str(error.error_type)
        except Exception as error:  # any crash must show in the assertion
            answers[index] = repr(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a call hung (a deadlock?)"
    return answers


def groups_with_room(count):
    """``count`` live groups of different owners, each of two members with an invite code."""
    groups = []
    for n in range(count):
        members = [("Friend", owner_number(50 + n))]
        group = make_active_group(f"Group {n}", f"Owner {n}", owner_number(n), members).group
        Group.objects.filter(pk=group.pk).update(invite_code=f"group{n}")
        groups.append(group)
    return groups


def join(code, number):
    join_group(code, f"Joiner {number[-4:]}", number)
    return "OK"


def addresses_of(number):
    return list(Membership.objects.filter(member__number=number).values_list("address", flat=True))


def test_parallel_adds_give_one_person_a_different_number_for_each_group():
    pool_size = PoolNumber.objects.filter(active=True).count()
    assert pool_size >= 4
    groups = groups_with_room(pool_size)
    owners = [membership_of(group, owner_number(n)) for n, group in enumerate(groups)]

    answers = in_parallel(
        *[lambda owner=owner: roster.add_member(owner, "Traveller", TRAVELLER) for owner in owners]
    )

    assert all(isinstance(answer, Membership) for answer in answers), answers
    assert len(set(addresses_of(TRAVELLER))) == pool_size


def test_parallel_joins_and_adds_share_out_the_pool():
    groups = groups_with_room(4)
    owners = [membership_of(group, owner_number(n)) for n, group in enumerate(groups)]

    def join(code):
        response = Client().post(
            "/group/join", {"invite_code": code, "name": "Traveller", "number": TRAVELLER}
        )
        return response.json()["status"]

    answers = in_parallel(
        lambda: join("group0"),
        lambda: join("GROUP1"),
        lambda: roster.add_member(owners[2], "Traveller", TRAVELLER) and "OK",
        lambda: roster.add_member(owners[3], "Traveller", TRAVELLER) and "OK",
    )

    assert answers == ["OK"] * 4
    assert len(set(addresses_of(TRAVELLER))) == 4


def test_parallel_joins_never_overfill_a_group(settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 5
    [group] = groups_with_room(1)
    numbers = [f"+1415555{1900 + n:04d}" for n in range(6)]

    answers = in_parallel(*[lambda number=number: join("group0", number) for number in numbers])

    assert sorted(answers) == ["OK"] * 3 + ["TOO_MANY_MEMBERS"] * 3
    assert group.memberships.count() == 5


def test_the_same_number_joining_twice_at_once_gets_in_once():
    [group] = groups_with_room(1)

    answers = in_parallel(*[lambda: join("group0", TRAVELLER) for _ in range(4)])

    assert sorted(answers) == ["DUP_NUMBER"] * 3 + ["OK"]
    assert Membership.objects.filter(group=group, member__number=TRAVELLER).count() == 1
