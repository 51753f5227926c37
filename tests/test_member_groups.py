"""/member/groups: the member's number, account and groups with their members."""

import pytest

from groups.models import Group
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_ok, login_as, make_active_group

pytestmark = pytest.mark.django_db


def test_the_owner_sees_the_full_nested_answer(api, family):
    body = assert_ok(api("member/groups", sid=family.owner.sid))
    assert body["number"] == OWNER
    assert body["account"] == {"type": "T", "balance": 500, "suspended": 0}
    (group,) = body["groups"]
    assert group == {
        "name": "Family",
        "number": family.address_of(family.owner),
        "bye": 0,
        "sms": 1,
        "owner": 1,
        "notify_on_add": 0,
        "reply_to_owner": 0,
        "disable_who": 0,
        "disable_add": 0,
        "is_public": 0,
        "invite_code": None,
        "description": "",
        "suspended": 0,
        "pending": 0,
        "members": [
            {"name": "Mom", "number": OWNER, "bye": 0, "owner": 1, "broadcast": 0},
            {"name": "Dad", "number": MEMBER, "bye": 0, "owner": 0, "broadcast": 0},
        ],
    }


def test_a_member_without_a_group_of_their_own_has_no_account(api, family):
    body = assert_ok(api("member/groups", sid=family.member.sid))
    assert body["account"] is None
    (group,) = body["groups"]
    assert group["owner"] == 0
    assert group["number"] == family.address_of(family.member)


def test_an_owner_whose_only_group_is_deleted_still_has_their_account(api, family):
    assert_ok(api("group/delete", sid=family.owner.sid, number=family.address_of(family.owner)))
    body = assert_ok(api("member/groups", sid=family.owner.sid))
    assert body["groups"] == []
    assert body["account"] == {"type": "T", "balance": 500, "suspended": 0}


def test_an_outsider_has_no_groups(api, family):
    body = assert_ok(api("member/groups", sid=family.outsider.sid))
    assert body == {"status": "OK", "number": OUTSIDER, "account": None, "groups": []}


def test_each_of_a_members_groups_has_its_own_number(api, family):
    make_active_group("Work", "Boss", OUTSIDER, [("Dad", MEMBER)])
    body = assert_ok(api("member/groups", sid=family.member.sid))
    numbers = [group["number"] for group in body["groups"]]
    assert len(numbers) == 2 and len(set(numbers)) == 2


def test_a_pending_group_shows_only_to_its_creator(api, family):
    assert_ok(
        api(
            "group/create", group="Club", name="Zed", number=OUTSIDER, name_0="Dad", number_0=MEMBER
        )
    )
    zed = assert_ok(api("member/groups", sid=login_as(OUTSIDER)))
    assert [(g["name"], g["pending"]) for g in zed["groups"]] == [("Club", 1)]
    dad = assert_ok(api("member/groups", sid=family.member.sid))
    assert [g["name"] for g in dad["groups"]] == ["Family"]


def test_a_deleted_group_is_gone_from_the_list(api, family):
    Group.objects.update(status=Group.Status.DELETED)
    assert assert_ok(api("member/groups", sid=family.owner.sid))["groups"] == []


def test_an_administrators_suspension_shows(api, family):
    Group.objects.update(suspended=True)
    assert assert_ok(api("member/groups", sid=family.member.sid))["groups"][0]["suspended"] == 1


def test_with_disable_who_members_see_only_the_owner_and_themselves(api, family):
    make_active_group("Club", "Boss", OUTSIDER, [("Dad", MEMBER), ("Kid", "+14155550104")])
    Group.objects.filter(name="Club").update(disable_who=True)
    body = assert_ok(api("member/groups", sid=family.member.sid))
    club = next(g for g in body["groups"] if g["name"] == "Club")
    assert [m["name"] for m in club["members"]] == ["Boss", "Dad"]
    boss = assert_ok(api("member/groups", sid=login_as(OUTSIDER)))
    assert [m["name"] for m in boss["groups"][0]["members"]] == ["Boss", "Dad", "Kid"]
