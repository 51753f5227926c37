"""/member/add, /member/remove, /member/set, /member/bye, /member/hi, and the roster actions
the star commands will share."""

import pytest

from groupflier.api.errors import ApiError, ErrorType
from groups import roster as actions
from groups.models import Group, Membership, PoolNumber
from members.models import Member
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_error, assert_ok, login_as, texts_to
from tests.group_helpers import membership_of, roster, texts_from

pytestmark = pytest.mark.django_db

KID = "+14155550140"


def call(api, family, path, person=None, **params):
    """``path`` as ``person`` (the owner by default), on their own number for the family."""
    person = person or family.owner
    return api(path, sid=person.sid, group=family.address_of(person), **params)


def set_group(family, **fields):
    Group.objects.filter(pk=family.group.pk).update(**fields)


# --- /member/add ----------------------------------------------------------------------------


def test_the_owner_adds_a_member_who_is_welcomed(api, family):
    assert_ok(call(api, family, "member/add", name="Kid", number="(415) 555-0140"))
    assert roster(family.group)[KID] == {
        "name": "Kid",
        "bye": False,
        "sms": True,
        "broadcast": False,
    }
    kid = membership_of(family.group, KID)
    [welcome] = texts_from(KID, str(kid.address.number))
    assert welcome.startswith('Mom added you to the GroupFlier group "Family".')
    assert "*bye" in welcome and "STOP" in welcome
    # Kid sees the group from their side.
    groups = assert_ok(api("member/groups", sid=login_as(KID)))["groups"]
    assert [(g["name"], g["number"]) for g in groups] == [("Family", str(kid.address.number))]


def test_a_member_adds_unless_the_owner_disabled_it(api, family):
    assert_ok(call(api, family, "member/add", family.member, name="Kid", number=KID))
    assert texts_to(KID)[0].startswith("Dad added you")
    set_group(family, disable_add=True)
    response = call(api, family, "member/add", family.member, name="Kid2", number="4155550141")
    assert_error(response, "DISABLED_ADD")
    assert_ok(call(api, family, "member/add", name="Kid2", number="4155550141"))


def test_add_refusals_carry_the_offending_value(api, family):
    add = lambda **p: call(api, family, "member/add", **p)  # noqa: E731
    assert_error(add(name="Eve", number=MEMBER), "DUP_NUMBER", MEMBER)
    assert_error(add(name="dad", number=KID), "DUP_NAME", "dad")
    assert_error(add(name="k" * 31, number=KID), "TOO_LONG", "k" * 31)
    assert_error(add(name="Kid", number="12"), "INVALID_NUMBER", "12")
    pool = str(PoolNumber.objects.last().number)
    assert_error(add(name="Kid", number=pool), "GROUP_FLIER_NUMBER", pool)
    Member.objects.create(number=KID, blocked=True)
    assert_error(add(name="Kid", number=KID), "BLOCKED_NUMBER", KID)
    assert_error(add(name="Kid"), "MISSING_FIELDS", ["number"])
    assert_error(
        api("member/add", sid=family.owner.sid), "MISSING_FIELDS", ["group", "name", "number"]
    )
    assert set(roster(family.group)) == {OWNER, MEMBER}


def test_a_full_group_takes_nobody_more(api, family, settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 3
    assert_ok(call(api, family, "member/add", name="Kid", number=KID))
    response = call(api, family, "member/add", name="Kid2", number="4155550141")
    assert_error(response, "TOO_MANY_MEMBERS")
    # Someone who left keeps their seat: the group is still full.
    assert_ok(call(api, family, "member/bye", family.member))
    assert_error(
        call(api, family, "member/add", name="Kid2", number="4155550141"), "TOO_MANY_MEMBERS"
    )


def test_order_of_add_checks(api, family):
    set_group(family, disable_add=True)
    # Look-up before permission; permission before state.
    response = api(
        "member/add", sid=family.member.sid, group="+12025550199", name="D", number=MEMBER
    )
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    response = call(api, family, "member/add", family.member, name="Mom", number=OWNER)
    assert_error(response, "DISABLED_ADD")
    # Format before look-up.
    response = api(
        "member/add", sid=family.owner.sid, group="+12025550199", name="K" * 31, number=KID
    )
    assert_error(response, "TOO_LONG")


def test_an_outsider_cannot_add_through_someone_elses_number(api, family):
    response = api(
        "member/add",
        sid=family.outsider.sid,
        group=family.address_of(family.owner),
        name="Kid",
        number=KID,
    )
    assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_adding_someone_who_left_brings_them_back(api, family):
    assert_ok(call(api, family, "member/bye", family.member))
    assert_ok(call(api, family, "member/add", name="Daddy", number=MEMBER))
    assert roster(family.group)[MEMBER]["bye"] is False
    assert roster(family.group)[MEMBER]["name"] == "Daddy"
    assert texts_to(MEMBER)[-1].startswith("Mom added you")


def test_notify_on_add_tells_the_others_but_not_the_adder(api, family):
    assert_ok(call(api, family, "member/add", name="Kid", number=KID))
    set_group(family, notify_on_add=True)
    assert_ok(call(api, family, "member/add", family.member, name="Gran", number="4155550141"))
    kid = membership_of(family.group, KID)
    owner = membership_of(family.group, OWNER)
    assert texts_from(KID, str(kid.address.number))[-1] == 'Dad added Gran to "Family".'
    assert texts_from(OWNER, str(owner.address.number)) == ['Dad added Gran to "Family".']
    assert texts_to(MEMBER) == []


def test_notify_on_add_in_a_reply_to_owner_group_tells_only_the_owner(api, family):
    assert_ok(call(api, family, "member/add", name="Kid", number=KID))
    set_group(family, notify_on_add=True, reply_to_owner=True)
    assert_ok(call(api, family, "member/add", family.member, name="Gran", number="4155550141"))
    assert texts_to(OWNER) == ['Dad added Gran to "Family".']
    assert len(texts_to(KID)) == 1  # the welcome only
    welcome = texts_to("+14155550141")[0]
    assert "Texts to this number go to Mom." in welcome


def test_members_who_turned_sms_off_get_no_notice(api, family):
    set_group(family, notify_on_add=True)
    Membership.objects.filter(member__number=OWNER).update(sms=False)
    assert_ok(call(api, family, "member/add", family.member, name="Kid", number=KID))
    assert texts_to(OWNER) == []


def test_a_suspended_group_adds_nobody(api, family):
    set_group(family, suspended=True)
    assert_error(call(api, family, "member/add", name="Kid", number=KID), "SUSPENDED")
    assert texts_to(KID) == []


def test_adding_to_a_staged_group_texts_nobody(api, family):
    set_group(family, status=Group.Status.PENDING)
    assert_ok(call(api, family, "member/add", name="Kid", number=KID))
    assert KID in roster(family.group)
    assert texts_to(KID) == []


# --- /member/remove -------------------------------------------------------------------------


def test_the_owner_removes_a_member_who_is_told(api, family):
    dad_address = family.address_of(family.member)
    assert_ok(call(api, family, "member/remove", number=MEMBER))
    assert set(roster(family.group)) == {OWNER}
    [notice] = texts_from(MEMBER, dad_address)
    assert 'You were removed from the GroupFlier group "Family".' in notice
    # The group is gone from Dad's side, and his number for it is free.
    assert assert_ok(api("member/groups", sid=family.member.sid))["groups"] == []
    assert_error(api("member/hi", sid=family.member.sid, group=dad_address), "MEMBER_LOOKUP_FAILED")
    # He can be added again, as a new member.
    assert_ok(call(api, family, "member/add", name="Dad", number=MEMBER))


def test_remove_refusals(api, family):
    assert_error(call(api, family, "member/remove", number=KID), "NOT_FOUND")
    assert_error(call(api, family, "member/remove", number=OWNER), "NOT_SELF")
    response = call(api, family, "member/remove", family.member, number=OWNER)
    assert_error(response, "NOT_OWNER")
    response = call(api, family, "member/remove", family.member, number=MEMBER)
    assert_error(response, "NOT_OWNER")
    assert_error(call(api, family, "member/remove", number="x"), "INVALID_NUMBER", "x")
    assert_error(call(api, family, "member/remove"), "MISSING_FIELDS", ["number"])
    assert set(roster(family.group)) == {OWNER, MEMBER}


def test_a_member_who_left_is_removed_silently(api, family):
    assert_ok(call(api, family, "member/bye", family.member))
    assert_ok(call(api, family, "member/remove", number=MEMBER))
    assert texts_to(MEMBER) == []


def test_remove_by_name_for_the_star_command(family, django_capture_on_commit_callbacks):
    owner = membership_of(family.group, OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        removed = actions.remove_member(owner, name="DAD")
    assert removed.name == "Dad"
    assert set(roster(family.group)) == {OWNER}


# --- /member/set ----------------------------------------------------------------------------


def test_a_member_changes_their_own_name_and_delivery(api, family):
    assert_ok(call(api, family, "member/set", family.member, name="Daddy", sms="0"))
    assert roster(family.group)[MEMBER] == {
        "name": "Daddy",
        "bye": False,
        "sms": False,
        "broadcast": False,
    }
    # Their own number counts as themselves.
    assert_ok(call(api, family, "member/set", family.member, number=MEMBER, sms="1"))
    assert roster(family.group)[MEMBER]["sms"] is True
    # The owner's view of the group shows the new name.
    groups = assert_ok(api("member/groups", sid=family.owner.sid))["groups"]
    assert {m["name"] for m in groups[0]["members"]} == {"Mom", "Daddy"}


def test_the_owner_changes_another_member(api, family):
    assert_ok(call(api, family, "member/set", number=MEMBER, name="Pops", broadcast="1", sms="0"))
    assert roster(family.group)[MEMBER] == {
        "name": "Pops",
        "bye": False,
        "sms": False,
        "broadcast": True,
    }


def test_set_refusals(api, family):
    member_set = lambda person=None, **p: call(api, family, "member/set", person, **p)  # noqa: E731
    assert_error(member_set(family.member, number=OWNER, name="Boss"), "NOT_OWNER")
    assert_error(member_set(family.member, broadcast="1"), "INVALID_BROADCAST")
    assert_error(member_set(broadcast="maybe"), "INVALID_BROADCAST")
    assert_error(member_set(name="DAD"), "NAME_IN_USE", "DAD")
    assert_error(member_set(number=OUTSIDER, name="Zed"), "MEMBER_LOOKUP_FAILED")
    assert_error(member_set(name="n" * 31), "TOO_LONG", "n" * 31)
    assert_error(member_set(number="bad"), "INVALID_NUMBER", "bad")
    assert roster(family.group)[MEMBER]["name"] == "Dad"
    assert roster(family.group)[OWNER]["name"] == "Mom"


@pytest.mark.parametrize("value", ["2", "true", "false", "-1", "on"])
def test_sms_takes_only_0_or_1(api, family, value):
    response = call(api, family, "member/set", family.member, sms=value)
    assert_error(response, "INVALID_SMS_STATE")


def test_a_name_may_change_case(api, family):
    assert_ok(call(api, family, "member/set", family.member, name="DAD"))
    assert roster(family.group)[MEMBER]["name"] == "DAD"


def test_rename_for_the_star_command(family):
    dad = membership_of(family.group, MEMBER)
    assert actions.rename(dad, "Papa").name == "Papa"
    with pytest.raises(ApiError) as refused:
        actions.rename(dad, "mom")
    assert refused.value.error_type is ErrorType.NAME_IN_USE


# --- /member/bye and /member/hi -------------------------------------------------------------


def test_leaving_and_coming_back(api, family):
    assert_ok(call(api, family, "member/bye", family.member))
    groups = assert_ok(api("member/groups", sid=family.member.sid))["groups"]
    assert groups[0]["bye"] == 1
    assert_ok(call(api, family, "member/bye", family.member))  # twice is fine
    # While away they hear nothing of new members.
    set_group(family, notify_on_add=True)
    assert_ok(call(api, family, "member/add", name="Kid", number=KID))
    assert texts_to(MEMBER) == []
    assert_ok(call(api, family, "member/hi", family.member))
    assert roster(family.group)[MEMBER]["bye"] is False
    assert_ok(call(api, family, "member/hi", family.member))  # and so is coming back twice


def test_bye_and_hi_report_a_change_for_the_star_commands(family):
    dad = membership_of(family.group, MEMBER)
    assert (actions.leave(dad), actions.leave(dad)) == (True, False)
    assert (actions.rejoin(dad), actions.rejoin(dad)) == (True, False)


def test_bye_and_hi_need_one_of_the_callers_groups(api, family):
    assert_error(api("member/bye", sid=family.member.sid), "MISSING_FIELDS", ["group"])
    assert_error(api("member/hi", sid=family.member.sid, group="no"), "INVALID_NUMBER", "no")
    response = api("member/bye", sid=family.outsider.sid, group=family.address_of(family.member))
    assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_a_deleted_group_is_out_of_reach(api, family):
    assert_ok(api("group/delete", sid=family.owner.sid, number=family.address_of(family.owner)))
    address = str(PoolNumber.objects.first().number)
    for path in ("member/bye", "member/hi"):
        response = api(path, sid=family.member.sid, group=address)
        assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_a_removed_membership_is_a_lookup_failure_for_a_late_action(family):
    dad = membership_of(family.group, MEMBER)
    Membership.objects.filter(pk=dad.pk).delete()
    with pytest.raises(ApiError) as refused:
        actions.leave(dad)
    assert refused.value.error_type is ErrorType.MEMBER_LOOKUP_FAILED
