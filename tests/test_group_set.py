"""/group/set: the owner's settings, invite codes, going public, and activation by PIN."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import Group, Membership, PoolNumber
from tests.conftest import assert_error, assert_ok, login_as, make_active_group, texts_to
from tests.group_helpers import latest_pin, membership_of, texts_from

pytestmark = pytest.mark.django_db

CREATOR = "+14155550120"
FRIEND = "+14155550121"
OTHER_FRIEND = "+14155550122"


def group_set(api, family, person=None, **params):
    person = person or family.owner
    return api("group/set", sid=person.sid, number=family.address_of(person), **params)


def test_the_owner_changes_every_setting(api, family):
    body = assert_ok(
        group_set(
            api,
            family,
            name="Smiths",
            notify_on_add="1",
            reply_to_owner="true",
            disable_who="1",
            disable_add="1",
            invite_code="smiths_2024",
            description="The Smith family",
            is_public="1",
        )
    )
    assert body == {"status": "OK", "invite_code": "smiths_2024", "sid": family.owner.sid}
    seen = assert_ok(api("member/groups", sid=family.owner.sid))["groups"][0]
    assert {key: seen[key] for key in ("name", "description", "invite_code")} == {
        "name": "Smiths",
        "description": "The Smith family",
        "invite_code": "smiths_2024",
    }
    for flag in ("notify_on_add", "reply_to_owner", "disable_who", "disable_add", "is_public"):
        assert seen[flag] == 1, flag

    assert_ok(group_set(api, family, reply_to_owner="0", is_public="false"))
    family.group.refresh_from_db()
    assert (family.group.reply_to_owner, family.group.is_public) == (False, False)
    assert family.group.disable_who is True  # what the call did not name stays as it was


def test_an_invite_code_is_made_up_the_first_time_and_kept(api, family):
    first = assert_ok(group_set(api, family))["invite_code"]
    assert first.startswith("family-") and 4 <= len(first) <= 50
    assert assert_ok(group_set(api, family, name="Renamed"))["invite_code"] == first


def test_only_the_owner_may_change_settings(api, family):
    assert_error(group_set(api, family, family.member, name="Mine now"), "NOT_OWNER")
    family.group.refresh_from_db()
    assert family.group.name == "Family"


def test_a_group_number_is_resolved_among_the_callers_own_groups(api, family):
    # The outsider passes the owner's group number: it is not one of theirs.
    response = api(
        "group/set", sid=family.outsider.sid, number=family.address_of(family.owner), name="X"
    )
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    response = api("group/set", sid=family.owner.sid, number="+12025550199", name="X")
    assert_error(response, "MEMBER_LOOKUP_FAILED")


@pytest.mark.parametrize("code", ["abc", "x" * 51, "has space", "bang!", "café", "a.b.c.d"])
def test_an_invite_code_is_4_to_50_letters_digits_underscores_and_dashes(api, family, code):
    assert_error(group_set(api, family, invite_code=code), "INVALID_INVITE_CODE")


@pytest.mark.parametrize("code", ["abcd", "A_b-9", "x" * 50, "----"])
def test_valid_invite_codes_are_kept_as_given(api, family, code):
    assert assert_ok(group_set(api, family, invite_code=code))["invite_code"] == code


def test_an_invite_code_in_use_elsewhere_is_refused_in_any_case(api, family):
    other = make_active_group("Book club", "Ann", CREATOR, [("Bob", FRIEND)]).group
    other.invite_code = "Readers"
    other.save()
    assert_error(group_set(api, family, invite_code="READERS"), "USED_INVITE_CODE")
    # The group's own code in another case is no clash.
    assert_ok(group_set(api, family, invite_code="family01"))
    assert assert_ok(group_set(api, family, invite_code="FAMILY01"))["invite_code"] == "FAMILY01"


def test_a_deleted_groups_invite_code_is_free_again(api, family):
    other = make_active_group("Book club", "Ann", CREATOR, [("Bob", FRIEND)]).group
    ann = login_as(CREATOR)
    number = assert_ok(api("member/groups", sid=ann))["groups"][0]["number"]
    assert_ok(api("group/set", sid=ann, number=number, invite_code="readers"))
    assert_ok(api("group/delete", sid=ann, number=number))
    other.refresh_from_db()
    assert other.invite_code is None
    assert assert_ok(group_set(api, family, invite_code="Readers"))["invite_code"] == "Readers"


def test_a_public_group_needs_a_description(api, family):
    assert_error(group_set(api, family, is_public="1"), "CANT_MAKE_PUBLIC")
    assert_ok(group_set(api, family, is_public="1", description="Our family"))
    family.group.refresh_from_db()
    assert family.group.is_public is True


def test_a_description_set_earlier_is_enough_to_go_public(api, family):
    assert_ok(group_set(api, family, description="Our family"))
    assert_ok(group_set(api, family, is_public="1"))


def test_lengths_of_name_and_description(api, family):
    assert_error(group_set(api, family, name="n" * 31), "TOO_LONG", "n" * 31)
    body = assert_error(group_set(api, family, description="d" * 151), "DESCRIPTION_TOO_LONG")
    assert "error_subtype" not in body
    assert_ok(group_set(api, family, name="n" * 30, description="é" * 150))


def test_flags_are_checked(api, family):
    assert_error(group_set(api, family, disable_who="maybe"), "INVALID_FLAG", "disable_who")


def test_order_of_checks(api, family):
    assert_error(
        api("group/set", sid=family.owner.sid, name="n" * 31), "MISSING_FIELDS", ["number"]
    )
    # Format before look-up: the name is too long before the number is looked for.
    response = api("group/set", sid=family.owner.sid, number="+12025550199", name="n" * 31)
    assert_error(response, "TOO_LONG")
    assert_error(group_set(api, family, invite_code="no"), "INVALID_INVITE_CODE")
    # Permission before state: a member is told they are not the owner, not that the code is used.
    family.group.invite_code = "taken"
    family.group.save()
    make_active_group("Other", "Ann", CREATOR, [("Bob", FRIEND)])
    assert_error(group_set(api, family, family.member, is_public="1"), "NOT_OWNER")


def test_no_sid_and_no_pin_is_401(api, family):
    response = api("group/set", number=family.address_of(family.owner), name="X")
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)
    response = api("group/set", sid="nonsense", number=family.address_of(family.owner))
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


# --- Activation with a PIN (SPEC §2) ----------------------------------------------------------


def stage(api, name, members, *, send_pin=True):
    """A pending group of CREATOR's, created without a session."""
    params = {"group": name, "name": "Ann", "number": CREATOR}
    for n, (member_name, number) in enumerate(members):
        params[f"name_{n}"], params[f"number_{n}"] = member_name, number
    if send_pin:
        params["send_pin"] = "1"
    body = assert_ok(api("group/create", **params))
    return Group.objects.get(owner__number=CREATOR, name=name), body["number"]


def test_a_pin_activates_the_named_staged_group_and_answers_a_sid(api):
    first, first_number = stage(api, "Book club", [("Bob", FRIEND)])
    second, _ = stage(api, "Chess", [("Cy", OTHER_FRIEND)], send_pin=False)
    assert texts_to(FRIEND) == [] and texts_to(OTHER_FRIEND) == []  # staged: nobody is told

    body = assert_ok(
        api(
            "group/set",
            pin=latest_pin(CREATOR),
            pin_number="(415) 555-0120",
            number=first_number,
            description="Books",
        )
    )
    assert set(body) == {"status", "invite_code", "sid"}
    first.refresh_from_db()
    assert first.status == Group.Status.ACTIVE and first.activated_at is not None
    assert first.description == "Books"
    # Only the group named by `number` goes live: anyone can stage a group in someone else's
    # name (SPEC §2).
    second.refresh_from_db()
    assert second.status == Group.Status.PENDING and texts_to(OTHER_FRIEND) == []

    # The sid is a real session.
    assert assert_ok(api("member/groups", sid=body["sid"]))["number"] == CREATOR
    # Everyone gets a welcome, from their own group number.
    bob = membership_of(first, FRIEND)
    [welcome] = texts_from(FRIEND, str(bob.address.number))
    assert 'Ann added you to the GroupFlier group "Book club"' in welcome
    assert "*bye" in welcome and "STOP" in welcome
    ann = membership_of(first, CREATOR)
    [live] = texts_from(CREATOR, str(ann.address.number))
    assert 'Your GroupFlier group "Book club" is live' in live


def test_a_group_staged_in_someone_elses_name_stays_pending(api):
    """An attacker stages a group with strangers in the victim's name; the victim then
    activates their own group with a PIN: the attacker's group must not go live."""
    planted, _ = stage(api, "Prank", [("Stranger", OTHER_FRIEND)], send_pin=False)
    own, own_number = stage(api, "Book club", [("Bob", FRIEND)])
    assert_ok(api("group/set", pin=latest_pin(CREATOR), pin_number=CREATOR, number=own_number))
    planted.refresh_from_db()
    own.refresh_from_db()
    assert (own.status, planted.status) == (Group.Status.ACTIVE, Group.Status.PENDING)
    assert texts_to(OTHER_FRIEND) == []


def test_pin_and_pin_number_come_together(api):
    _, number = stage(api, "Book club", [("Bob", FRIEND)])
    assert_error(api("group/set", pin="123456", number=number), "MISSING_FIELDS", ["pin_number"])
    assert_error(api("group/set", pin_number=CREATOR, number=number), "MISSING_FIELDS", ["pin"])
    assert_error(api("group/set", pin="123456"), "MISSING_FIELDS", ["pin_number", "number"])
    assert_error(api("group/set", pin_number="bad", pin="1", number=number), "INVALID_NUMBER")


def test_a_wrong_pin_activates_nothing_and_counts_toward_the_lockout(api, settings):
    group, number = stage(api, "Book club", [("Bob", FRIEND)])
    right_pin = latest_pin(CREATOR)
    wrong_pin = "000000" if right_pin != "000000" else "111111"
    params = dict(pin_number=CREATOR, number=number)
    assert_error(api("group/set", pin=wrong_pin, **params), "INVALID_PIN")
    group.refresh_from_db()
    assert group.status == Group.Status.PENDING

    # The same counter as /member/login: the fifth failure, whichever call made it, locks.
    for _ in range(settings.GROUPFLIER_LOGIN_MAX_FAILURES - 2):
        assert_error(api("member/login", number=CREATOR, pin=wrong_pin), "INVALID_PIN")
    assert_error(api("group/set", pin=wrong_pin, **params), "INVALID_PIN")
    assert_error(api("group/set", pin=right_pin, **params), "LOCKOUT")
    group.refresh_from_db()
    assert group.status == Group.Status.PENDING
    assert texts_to(FRIEND) == []


def test_a_pin_is_used_once(api):
    _, number = stage(api, "Book club", [("Bob", FRIEND)])
    pin = latest_pin(CREATOR)
    assert_ok(api("group/set", pin=pin, pin_number=CREATOR, number=number))
    assert_error(api("group/set", pin=pin, pin_number=CREATOR, number=number), "INVALID_PIN")


def test_a_refused_setting_leaves_the_pin_for_a_corrected_call(api):
    group, number = stage(api, "Book club", [("Bob", FRIEND)])
    pin = latest_pin(CREATOR)
    response = api("group/set", pin=pin, pin_number=CREATOR, number=number, is_public="1")
    assert_error(response, "CANT_MAKE_PUBLIC")
    group.refresh_from_db()
    assert group.status == Group.Status.PENDING
    assert texts_to(FRIEND) == []

    assert_ok(api("group/set", pin=pin, pin_number=CREATOR, number=number, description="Books"))
    group.refresh_from_db()
    assert group.status == Group.Status.ACTIVE


def test_the_pin_path_resolves_the_number_among_the_creators_own_groups(api, family):
    stage(api, "Book club", [("Bob", FRIEND)])
    pin = latest_pin(CREATOR)
    # Mom's group number for Family: a pool number, but not one of Ann's groups.
    taken_by_ann = Membership.objects.filter(member__number=CREATOR).values("address")
    unused = PoolNumber.objects.exclude(pk__in=taken_by_ann).first()
    response = api("group/set", pin=pin, pin_number=CREATOR, number=str(unused.number))
    assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_an_expired_staged_group_is_not_activated(api):
    old, old_number = stage(api, "Old", [("Bob", FRIEND)])
    Group.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    young, young_number = stage(api, "Young", [("Cy", OTHER_FRIEND)])
    assert_ok(api("group/set", pin=latest_pin(CREATOR), pin_number=CREATOR, number=young_number))
    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.status, young.status) == (Group.Status.PENDING, Group.Status.ACTIVE)
    assert texts_to(FRIEND) == []


def test_a_pin_from_member_find_works_too(api):
    _, number = stage(api, "Book club", [("Bob", FRIEND)], send_pin=False)
    assert_ok(api("member/find", number=CREATOR))
    assert_ok(api("group/set", pin=latest_pin(CREATOR), pin_number=CREATOR, number=number))


def test_a_sid_alone_does_not_activate(api):
    group, number = stage(api, "Book club", [("Bob", FRIEND)], send_pin=False)
    sid = login_as(CREATOR)
    assert_ok(api("group/set", sid=sid, number=number, name="Books"))
    group.refresh_from_db()
    assert (group.status, group.name) == (Group.Status.PENDING, "Books")
    # A member of a staged group cannot see it, so cannot change it either.
    friend_sid = login_as(FRIEND)
    response = api("group/set", sid=friend_sid, number=str(membership_of(group, FRIEND).address))
    assert_error(response, "MEMBER_LOOKUP_FAILED")
