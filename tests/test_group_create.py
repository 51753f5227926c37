"""/group/create: every parameter and every error token of the seed, SPEC §2 staging."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, LedgerEntry
from groups.models import Group, Membership, PoolNumber
from members.models import Member
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_error, assert_ok, login_as, texts_to

pytestmark = pytest.mark.django_db

CREATE = dict(group="Family", name="Mom", number=OWNER, name_0="Dad", number_0=MEMBER)


def test_creates_a_pending_group_and_answers_the_creators_own_number(api):
    body = assert_ok(api("group/create", **CREATE, email="mom@example.com", source="web"))
    assert body["first_group"] == 1
    group = Group.objects.get()
    assert group.status == Group.Status.PENDING
    assert group.source == "web"
    creator = Membership.objects.get(group=group, member__number=OWNER)
    assert body["number"] == str(creator.address.number)
    assert PoolNumber.objects.filter(number=body["number"]).exists()
    assert sorted(group.memberships.values_list("name", flat=True)) == ["Dad", "Mom"]
    assert Account.objects.get(member__number=OWNER).email == "mom@example.com"


def test_a_pending_group_texts_nobody(api):
    assert_ok(api("group/create", **CREATE))
    assert texts_to(MEMBER) == []
    assert texts_to(OWNER) == []


def test_first_group_is_one_only_on_the_call_that_opens_the_account(api):
    assert assert_ok(api("group/create", **CREATE))["first_group"] == 1
    second = {**CREATE, "group": "Work"}
    assert assert_ok(api("group/create", **second))["first_group"] == 0


def test_a_new_account_is_a_trial_with_its_credit_in_the_ledger(api, settings):
    assert_ok(api("group/create", **CREATE))
    account = Account.objects.get(member__number=OWNER)
    assert account.type == Account.Type.TRIAL
    assert account.balance == settings.GROUPFLIER_TRIAL_BALANCE
    assert list(account.ledger.values_list("kind", "amount")) == [
        (LedgerEntry.Kind.TRIAL_CREDIT, settings.GROUPFLIER_TRIAL_BALANCE)
    ]


def test_with_the_creators_sid_the_group_is_active_at_once(api):
    assert_ok(api("group/create", **CREATE))  # the creator's first group makes them a member
    sid = login_as(OWNER)
    assert_ok(api("group/create", **{**CREATE, "group": "Work"}, sid=sid))
    assert Group.objects.get(name="Work").status == Group.Status.ACTIVE


def test_someone_elses_sid_or_a_bad_sid_stages_the_group(api, family):
    assert_ok(api("group/create", **{**CREATE, "group": "Work"}, sid=family.member.sid))
    assert_ok(api("group/create", **{**CREATE, "group": "Club"}, sid="nonsense"))
    assert set(
        Group.objects.filter(name__in=["Work", "Club"]).values_list("status", flat=True)
    ) == {Group.Status.PENDING}


def test_all_hundred_and_one_additional_members(api, settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 102
    extra = {}
    for n in range(101):
        extra[f"name_{n}"] = f"Kid {n}"
        extra[f"number_{n}"] = f"+1415555{2000 + n:04d}"
    assert_ok(api("group/create", group="Big", name="Mom", number=OWNER, **extra))
    assert Group.objects.get().memberships.count() == 102


def test_reply_to_owner_is_kept(api):
    assert_ok(api("group/create", **CREATE, reply_to_owner="1"))
    assert Group.objects.get().reply_to_owner is True


def test_send_pin_texts_the_creator_a_pin(api):
    assert_ok(api("group/create", **CREATE, send_pin="1"))
    (text,) = texts_to(OWNER)
    assert "PIN" in text
    assert texts_to(MEMBER) == []


# --- error tokens, in the order of SPEC §1 ---------------------------------------------------


def test_missing_fields(api):
    assert_error(api("group/create"), "MISSING_FIELDS", ["group", "name", "number"])


def test_invalid_number_of_the_creator_and_of_a_member(api):
    assert_error(api("group/create", **{**CREATE, "number": "12345"}), "INVALID_NUMBER", "12345")
    response = api("group/create", **{**CREATE, "number_0": "555-12"})
    assert_error(response, "INVALID_NUMBER", "555-12")


@pytest.mark.parametrize("field", ["group", "name", "name_0"])
def test_names_over_thirty_characters_are_too_long(api, field):
    assert_ok(api("group/create", **{**CREATE, field: "é" * 30}))  # characters, not bytes
    response = api("group/create", **{**CREATE, field: "x" * 31})
    assert_error(response, "TOO_LONG", "x" * 31)


def test_a_name_is_trimmed_before_it_is_measured(api):
    assert_ok(api("group/create", **{**CREATE, "group": "  " + "x" * 30 + "  "}))
    assert Group.objects.get().name == "x" * 30


def test_invalid_email(api):
    response = api("group/create", **CREATE, email="not-an-email")
    assert_error(response, "INVALID_EMAIL", "not-an-email")


def test_a_pool_number_cannot_be_a_member(api):
    pool = str(PoolNumber.objects.first().number)
    assert_error(api("group/create", **{**CREATE, "number_0": pool}), "GROUP_FLIER_NUMBER", pool)
    assert_error(api("group/create", **{**CREATE, "number": pool}), "GROUP_FLIER_NUMBER", pool)


def test_a_blocked_number_is_refused(api):
    Member.objects.create(number=MEMBER, blocked=True)
    assert_error(api("group/create", **CREATE), "BLOCKED_NUMBER", MEMBER)


def test_a_duplicate_number_is_refused(api):
    response = api("group/create", **CREATE, name_1="Also Dad", number_1="(415) 555-0102")
    assert_error(response, "DUP_NUMBER", MEMBER)
    response = api("group/create", **{**CREATE, "number_0": OWNER})
    assert_error(response, "DUP_NUMBER", OWNER)


def test_a_duplicate_name_is_refused_whatever_its_case(api):
    response = api("group/create", **CREATE, name_1="dad", number_1=OUTSIDER)
    assert_error(response, "DUP_NAME", "dad")


def test_a_group_needs_at_least_one_member(api):
    response = api("group/create", group="Alone", name="Mom", number=OWNER)
    assert_error(response, "NOT_ENOUGH_MEMBERS")


def test_a_group_over_the_configured_size_is_too_many_members(api, settings):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 2
    assert_ok(api("group/create", **CREATE))
    response = api("group/create", **CREATE, name_1="Kid", number_1=OUTSIDER)
    assert_error(response, "TOO_MANY_MEMBERS")


def test_at_most_three_pending_groups_per_creator(api):
    for name in ("One", "Two", "Three"):
        assert_ok(api("group/create", **{**CREATE, "group": name}))
    assert_error(api("group/create", **{**CREATE, "group": "Four"}), "TOO_MANY_PENDING_GROUPS")
    assert Group.objects.count() == 3
    # With the creator's session the group is active at once and does not count as pending.
    sid = login_as(OWNER)
    assert_ok(api("group/create", **{**CREATE, "group": "Four"}, sid=sid))


def test_expired_pending_groups_do_not_count(api):
    for name in ("One", "Two", "Three"):
        assert_ok(api("group/create", **{**CREATE, "group": name}))
    Group.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert_ok(api("group/create", **{**CREATE, "group": "Four"}))


def test_send_pin_spends_the_per_destination_budget(api, settings):
    settings.GROUPFLIER_THROTTLE_PIN_PER_NUMBER = "2/hour"
    assert_ok(api("group/create", **{**CREATE, "group": "One"}, send_pin="1"))
    assert_ok(api("group/create", **{**CREATE, "group": "Two"}, send_pin="1"))
    assert_error(api("group/create", **{**CREATE, "group": "Three"}, send_pin="1"), "THROTTLE")
    # The refused call created nothing and sent nothing.
    assert not Group.objects.filter(name="Three").exists()
    assert len(texts_to(OWNER)) == 2


def test_send_pin_spends_the_per_address_budget(api, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "2/minute"
    for name in ("One", "Two"):
        assert_ok(api("group/create", **{**CREATE, "group": name}, send_pin="1"))
    assert_error(api("group/create", **{**CREATE, "group": "Three"}, send_pin="1"), "THROTTLE")


def test_without_send_pin_the_per_address_budget_applies_too(api, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "2/minute"
    for name in ("One", "Two"):
        assert_ok(api("group/create", **{**CREATE, "group": name}))
    assert_error(api("group/create", **{**CREATE, "group": "Three"}), "THROTTLE")
