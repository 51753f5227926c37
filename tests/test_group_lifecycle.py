"""A group's life: created, live, found, joined, deleted or expired; and the admin's part."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from groupflier.celery import app as celery_app
from groups import actions
from groups.models import Group, Membership, PoolNumber
from groups.tasks import expire_pending_groups
from members.models import Member
from tests.conftest import (
    MEMBER,
    OUTSIDER,
    OWNER,
    assert_error,
    assert_ok,
    login_as,
    make_active_group,
    texts_to,
)
from tests.group_helpers import membership_of, roster, texts_from
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

ANN = "+14155550130"
BOB = "+14155550131"
CY = "+14155550132"


def make_public(group, *, code, description="A public group", **fields):
    Group.objects.filter(pk=group.pk).update(
        invite_code=code, is_public=True, description=description, **fields
    )
    group.refresh_from_db()
    return group


# --- Created live ---------------------------------------------------------------------------


def test_a_group_created_with_the_creators_sid_welcomes_everyone(api):
    Member.objects.create(number=ANN)
    sid = login_as(ANN)
    assert_ok(
        api(
            "group/create",
            sid=sid,
            group="Team",
            name="Ann",
            number=ANN,
            name_0="Bob",
            number_0=BOB,
        )
    )
    group = Group.objects.get(name="Team")
    assert group.status == Group.Status.ACTIVE
    bob = membership_of(group, BOB)
    [welcome] = texts_from(BOB, str(bob.address.number))
    assert welcome.startswith('Ann added you to the GroupFlier group "Team".')
    assert "Texts to this number go to the group." in welcome
    assert "*bye" in welcome and "STOP" in welcome
    [live] = texts_to(ANN)
    assert live.startswith('Your GroupFlier group "Team" is live.')


def test_a_staged_group_texts_nobody_but_the_pin(api):
    assert_ok(
        api(
            "group/create",
            group="Team",
            name="Ann",
            number=ANN,
            name_0="Bob",
            number_0=BOB,
            send_pin="1",
        )
    )
    assert texts_to(BOB) == []
    [pin_text] = texts_to(ANN)
    assert "PIN" in pin_text


def test_a_welcome_in_a_reply_to_owner_group_says_who_reads_it(django_capture_on_commit_callbacks):
    created = actions.create_group(
        actions.NewGroup(
            name="Class",
            creator_name="Ms Lee",
            creator_number=ANN,
            members=[("Bob", BOB)],
            reply_to_owner=True,
        ),
        session_member=None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        actions.activate_group(created.group)
    [welcome] = texts_to(BOB)
    assert "Texts to this number go to Ms Lee." in welcome


def test_activation_skips_a_number_that_texted_stop(django_capture_on_commit_callbacks):
    created = actions.create_group(
        actions.NewGroup(
            name="Team", creator_name="Ann", creator_number=ANN, members=[("Bob", BOB)]
        ),
        session_member=None,
    )
    Member.objects.filter(number=BOB).update(blocked=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.activate_group(created.group) is True
        assert actions.activate_group(created.group) is False  # once only
    assert texts_to(BOB) == []
    assert OutboundSms.objects.get(to=BOB).status == OutboundSms.Status.SKIPPED
    assert len(texts_to(ANN)) == 1


# --- Deleted --------------------------------------------------------------------------------


def test_the_owner_deletes_the_group(api, family):
    dad_address = family.address_of(family.member)
    assert_ok(api("group/delete", sid=family.owner.sid, number=family.address_of(family.owner)))
    group = Group.objects.get(pk=family.group.pk)
    assert group.status == Group.Status.DELETED and group.deleted_at is not None
    # Kept for the admin, but its numbers are free.
    assert set(roster(group)) == {OWNER, MEMBER}
    assert not group.memberships.filter(address__isnull=False).exists()
    assert assert_ok(api("member/groups", sid=family.member.sid))["groups"] == []
    [notice] = texts_from(MEMBER, dad_address)
    assert 'The GroupFlier group "Family" was deleted by Mom.' in notice
    assert texts_to(OWNER) == []
    # Gone for the owner too.
    response = api("group/delete", sid=family.owner.sid, number=dad_address)
    assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_a_deleted_groups_numbers_are_reused(api, family):
    assert_ok(api("group/delete", sid=family.owner.sid, number=family.address_of(family.owner)))
    # Were Family's number still Dad's, one of as many new groups as the pool has numbers
    # would have to share a number with another.
    pool_size = PoolNumber.objects.filter(active=True).count()
    for n in range(pool_size):
        make_active_group(f"Work {n}", "Boss", f"+1415555{4000 + n:04d}", [("Dad", MEMBER)])
    addresses = Membership.objects.filter(member__number=MEMBER, address__isnull=False).values_list(
        "address", flat=True
    )
    assert len(addresses) == len(set(addresses)) == pool_size


def test_only_the_owner_deletes(api, family):
    response = api("group/delete", sid=family.member.sid, number=family.address_of(family.member))
    assert_error(response, "NOT_OWNER")
    response = api("group/delete", sid=family.outsider.sid, number=family.address_of(family.owner))
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    assert_error(api("group/delete", sid=family.owner.sid, number="12"), "INVALID_NUMBER", "12")
    assert_error(api("group/delete", sid=family.owner.sid), "MISSING_FIELDS", ["number"])
    assert Group.objects.get(pk=family.group.pk).status == Group.Status.ACTIVE


# --- Expired --------------------------------------------------------------------------------


def test_staged_groups_expire_after_24_hours(django_capture_on_commit_callbacks, settings):
    def stage(name, creator, member):
        return actions.create_group(
            actions.NewGroup(
                name=name, creator_name="Ann", creator_number=creator, members=[("Bob", member)]
            ),
            session_member=None,
        ).group

    old, young = stage("Old", ANN, BOB), stage("Young", CY, BOB)
    Group.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - settings.GROUPFLIER_PENDING_GROUP_TTL - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_pending_groups.delay().get() == 1
        assert expire_pending_groups.delay().get() == 0  # a second run changes nothing
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.status == Group.Status.DELETED and old.deleted_at is not None
    assert not old.memberships.filter(address__isnull=False).exists()
    assert young.status == Group.Status.PENDING
    assert young.memberships.filter(address__isnull=True).count() == 0
    assert texts_to(BOB) == []
    # An expired group no longer counts toward the creator's three.
    assert actions.pending_groups_of(Member.objects.get(number=ANN)).count() == 0


def test_the_expiry_runs_on_beat(settings):
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "groups.tasks.expire_pending_groups"
    )
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] <= 3600


# --- Listed ---------------------------------------------------------------------------------


@pytest.fixture
def public_groups(family):
    make_public(family.group, code="family", description="Mom, Dad and the kids")
    hikers = make_public(
        make_active_group("Hikers", "Ann", ANN, [("Bob", BOB), ("Cy", CY)]).group,
        code="hikers",
        description="Weekend walks in the family of hills",
        reply_to_owner=True,
    )
    make_active_group("Private", "Ann", ANN, [("Bob", BOB)])  # not public
    staged = actions.create_group(
        actions.NewGroup(
            name="Staged family", creator_name="Ann", creator_number=ANN, members=[("Bob", BOB)]
        ),
        session_member=None,
    ).group
    make_public(staged, code="staged")
    gone = make_public(
        make_active_group("Gone family", "Ann", ANN, [("Bob", BOB)]).group, code="gone"
    )
    actions.retire(gone)
    stopped = make_public(
        make_active_group("Stopped family", "Ann", ANN, [("Bob", BOB)]).group, code="stopped"
    )
    Group.objects.filter(pk=stopped.pk).update(suspended=True)
    return {"family": family.group, "hikers": hikers}


def test_only_live_public_groups_are_listed(api, public_groups):
    groups = assert_ok(api("group/list"))["groups"]
    assert [g["invite_code"] for g in groups] == ["hikers", "family"]  # biggest first
    assert groups[0] == {
        "invite_code": "hikers",
        "name": "Hikers",
        "description": "Weekend walks in the family of hills",
        "owner": "Ann",
        "reply_to_owner": 1,
        "count": 3,
        "full": 0,
        "is_member": 0,
    }


def test_search_looks_at_name_and_description_in_any_case(api, public_groups):
    found = assert_ok(api("group/list", search="FAMILY"))["groups"]
    assert {g["name"] for g in found} == {"Family", "Hikers"}
    assert [g["name"] for g in assert_ok(api("group/list", search="hike"))["groups"]] == ["Hikers"]
    assert assert_ok(api("group/list", search="nothing like it"))["groups"] == []
    assert assert_ok(api("group/list", search="100%"))["groups"] == []


@pytest.mark.parametrize("search", ["a", "ab", " ab "])
def test_a_search_needs_three_characters(api, public_groups, search):
    assert_error(api("group/list", search=search), "SHORT_SEARCH")


def test_newest_first(api, public_groups):
    Group.objects.filter(pk=public_groups["family"].pk).update(activated_at=timezone.now())
    groups = assert_ok(api("group/list", newest="1"))["groups"]
    assert [g["name"] for g in groups] == ["Family", "Hikers"]


def test_is_member_and_full(api, public_groups, settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 3
    groups = {g["name"]: g for g in assert_ok(api("group/list", number=BOB))["groups"]}
    assert (groups["Hikers"]["is_member"], groups["Family"]["is_member"]) == (1, 0)
    assert (groups["Hikers"]["full"], groups["Family"]["full"]) == (1, 0)
    # Someone who left is not a member any more, though they keep their seat.
    Membership.objects.filter(group=public_groups["hikers"], member__number=BOB).update(bye=True)
    groups = {g["name"]: g for g in assert_ok(api("group/list", number=BOB))["groups"]}
    assert (groups["Hikers"]["is_member"], groups["Hikers"]["count"]) == (0, 3)
    assert_error(api("group/list", number="nonsense"), "INVALID_NUMBER", "nonsense")


def test_the_list_is_capped(api, family):
    for n in range(actions.PUBLIC_LIST_LIMIT + 1):
        group = Group.objects.create(
            name=f"Club {n}", owner=family.owner.member, status=Group.Status.ACTIVE
        )
        make_public(group, code=f"club{n:03d}")
    assert len(assert_ok(api("group/list"))["groups"]) == actions.PUBLIC_LIST_LIMIT


@pytest.mark.parametrize("path", ["group/list", "group/invite/check", "group/join"])
def test_public_endpoints_are_throttled_per_client_address(api, public_groups, settings, path):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "2/minute"
    params = {"invite_code": "nope", "name": "Eve", "number": "+14155550190"}
    for _ in range(2):
        assert api(path, **params).json().get("error_type") != "THROTTLE"
    assert_error(api(path, **params), "THROTTLE")


# --- Invitations and joining ----------------------------------------------------------------


def test_an_invite_code_is_checked_in_any_case(api, public_groups):
    body = assert_ok(api("group/invite/check", invite_code="HiKeRs"))
    assert body == {"status": "OK", "name": "Hikers", "reply_to_owner": 1, "disable_who": 0}
    assert_error(api("group/invite/check", invite_code="staged"), "NOT_FOUND")
    assert_error(api("group/invite/check", invite_code="gone"), "NOT_FOUND")
    assert_error(api("group/invite/check", invite_code="stopped"), "NOT_FOUND")
    assert_error(api("group/invite/check", invite_code="x" * 500), "NOT_FOUND")
    # NUL is refused by the contract layer for every endpoint (tests/test_contract.py).
    response = api("group/invite/check", invite_code="hik\x00ers")
    assert_error(response, "BAD_REQUEST", "invite_code", http_status=400)
    assert_error(api("group/invite/check"), "MISSING_FIELDS", ["invite_code"])


def test_the_admin_takes_only_codes_the_api_would(family):
    family.group.invite_code = "not a code!"
    with pytest.raises(ValidationError) as refused:
        family.group.full_clean()
    assert set(refused.value.message_dict) == {"invite_code"}


def test_a_full_group_says_so(api, public_groups, settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 3
    assert_error(api("group/invite/check", invite_code="hikers"), "TOO_MANY_MEMBERS")
    assert_error(
        api("group/join", invite_code="hikers", name="Eve", number="+14155550190"),
        "TOO_MANY_MEMBERS",
    )


def test_joining_welcomes_the_new_member(api, public_groups):
    body = assert_ok(api("group/join", invite_code="FAMILY", name="Eve", number="4155550190"))
    eve = membership_of(public_groups["family"], "+14155550190")
    assert body == {"status": "OK", "name": "Family", "number": str(eve.address.number)}
    assert eve.name == "Eve" and not eve.bye
    [welcome] = texts_from("+14155550190", body["number"])
    assert welcome.startswith('Welcome to the GroupFlier group "Family".')
    assert "*bye" in welcome and "STOP" in welcome
    assert texts_to(OWNER) == [] and texts_to(MEMBER) == []  # notify_on_add is off


def test_notify_on_add_tells_the_other_active_members(api, public_groups):
    Group.objects.filter(pk=public_groups["family"].pk).update(notify_on_add=True)
    Membership.objects.filter(member__number=MEMBER).update(bye=True)
    assert_ok(api("group/join", invite_code="family", name="Eve", number="+14155550190"))
    owner = membership_of(public_groups["family"], OWNER)
    assert texts_from(OWNER, str(owner.address.number)) == ['Eve joined "Family".']
    assert texts_to(MEMBER) == []  # Dad left


def test_a_name_is_needed_except_in_a_reply_to_owner_group(api, public_groups):
    response = api("group/join", invite_code="family", number="+14155550190")
    assert_error(response, "MISSING_FIELDS", ["name"])
    assert_error(
        api("group/join", number="+14155550190"), "MISSING_FIELDS", ["invite_code", "name"]
    )
    assert_error(api("group/join", invite_code="nope"), "MISSING_FIELDS", ["name", "number"])

    assert_ok(api("group/join", invite_code="hikers", number="+14155550190"))
    assert_ok(api("group/join", invite_code="hikers", number="+14165550190"))
    names = {n: r["name"] for n, r in roster(public_groups["hikers"]).items()}
    assert names["+14155550190"] == "Member 0190"
    assert names["+14165550190"] == "Member 0190 (2)"


def test_join_refusals(api, public_groups):
    join = lambda **p: api("group/join", **{"invite_code": "family", **p})  # noqa: E731
    assert_error(join(name="Eve", number="+14155550102"), "DUP_NUMBER", "+14155550102")
    assert_error(join(name="dAD", number="+14155550190"), "DUP_NAME", "dAD")
    assert_error(join(name="e" * 31, number="+14155550190"), "TOO_LONG", "e" * 31)
    assert_error(join(name="Eve", number="555"), "INVALID_NUMBER", "555")
    pool = str(PoolNumber.objects.first().number)
    assert_error(join(name="Eve", number=pool), "GROUP_FLIER_NUMBER", pool)
    Member.objects.create(number="+14155550191", blocked=True)
    assert_error(join(name="Eve", number="+14155550191"), "BLOCKED_NUMBER", "+14155550191")
    assert_error(join(invite_code="nope", name="Eve", number="+14155550190"), "NOT_FOUND")
    assert set(roster(public_groups["family"])) == {OWNER, MEMBER}


def test_someone_who_left_joins_again(api, public_groups):
    Membership.objects.filter(member__number=MEMBER).update(bye=True)
    assert_ok(api("group/join", invite_code="family", name="Daddy", number=MEMBER))
    assert roster(public_groups["family"])[MEMBER] == {
        "name": "Daddy",
        "bye": False,
        "sms": True,
        "broadcast": False,
    }


def test_an_outsider_joins_and_sees_the_group(api, public_groups):
    assert_ok(api("group/join", invite_code="family", name="Zed", number=OUTSIDER))
    sid = login_as(OUTSIDER)
    [group] = assert_ok(api("member/groups", sid=sid))["groups"]
    assert group["name"] == "Family" and group["owner"] == 0


# --- The admin ------------------------------------------------------------------------------


def changelist():
    return reverse("admin:groups_group_changelist")


def test_the_admin_suspends_and_lifts(admin_client, family):
    admin_client.post(changelist(), {"action": "suspend", "_selected_action": [family.group.pk]})
    family.group.refresh_from_db()
    assert family.group.suspended is True
    admin_client.post(changelist(), {"action": "unsuspend", "_selected_action": [family.group.pk]})
    family.group.refresh_from_db()
    assert family.group.suspended is False


def test_the_admin_activates_a_staged_group_with_its_welcomes(
    admin_client, family, django_capture_on_commit_callbacks
):
    staged = actions.create_group(
        actions.NewGroup(
            name="Team", creator_name="Ann", creator_number=ANN, members=[("Bob", BOB)]
        ),
        session_member=None,
    ).group
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist(), {"action": "activate", "_selected_action": [staged.pk, family.group.pk]}
        )
    staged.refresh_from_db()
    assert staged.status == Group.Status.ACTIVE
    assert len(texts_to(BOB)) == 1 and len(texts_to(ANN)) == 1
    assert texts_to(MEMBER) == []  # Family was live already: nothing twice


def test_the_admin_deletes_keeping_history(admin_client, family):
    admin_client.post(
        changelist(), {"action": "delete_keeping_history", "_selected_action": [family.group.pk]}
    )
    group = Group.objects.get(pk=family.group.pk)
    assert group.status == Group.Status.DELETED
    assert group.memberships.count() == 2
    assert not group.memberships.filter(address__isnull=False).exists()


@pytest.mark.parametrize("query", ["Fam", "FAMCODE", "member", "address"])
def test_the_admin_finds_a_group_by_name_invite_code_and_numbers(admin_client, family, query):
    family.group.invite_code = "famcode"
    family.group.save()
    other = make_active_group("Unrelated", "Ann", ANN, [("Bob", BOB)]).group
    term = {
        "member": MEMBER,
        "address": family.address_of(family.owner),
        "Fam": "Fam",
        "FAMCODE": "FAMCODE",
    }[query]
    page = admin_client.get(changelist(), {"q": term}).content.decode()
    assert "Family" in page
    if query != "address":  # the pool numbers are shared with other groups
        assert other.name not in page
