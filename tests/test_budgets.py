"""SPEC §6: every path that makes the service text has a budget, kept in Redis, a setting.
A refused call answers THROTTLE; a welcome or notice past its budget is recorded skipped with
the reason while the add or join itself succeeds. Nothing is ever texted to a pool number."""

import pytest

from groups.models import Group, PoolNumber
from messaging.inbound import Inbound, receive
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_error, assert_ok, texts_to
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

CREATE = dict(group="Family", name="Mom", number=OWNER, name_0="Dad", number_0=MEMBER)


def members(count, start=0):
    return {
        key: value
        for n in range(count)
        for key, value in (
            (f"name_{n}", f"Kid {start + n}"),
            (f"number_{n}", f"+1415555{2000 + start + n}"),
        )
    }


# --- Per client address ---------------------------------------------------------------------


def test_member_login_is_throttled_per_client_address(api, family, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "3/minute"
    for _ in range(3):
        assert_error(api("member/login", number=MEMBER, pin="000000"), "INVALID_PIN")
    assert_error(api("member/login", number=OUTSIDER, pin="000000"), "THROTTLE")


def test_group_create_is_throttled_per_address_with_or_without_send_pin_or_sid(
    api, family, settings
):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "3/minute"
    assert_ok(api("group/create", **{**CREATE, "group": "One"}))
    assert_ok(api("group/create", **{**CREATE, "group": "Two"}, sid=family.owner.sid))
    assert_ok(api("group/create", **{**CREATE, "group": "Three"}, send_pin="1"))
    assert_error(
        api("group/create", **{**CREATE, "group": "Four"}, sid=family.owner.sid), "THROTTLE"
    )


def test_group_create_without_a_sid_is_10_an_hour_per_address(api, family, settings):
    assert settings.GROUPFLIER_THROTTLE_CREATE_PER_ADDRESS == "10/hour"
    settings.GROUPFLIER_THROTTLE_CREATE_PER_ADDRESS = "2/hour"
    for n in range(2):
        creator = f"+1415555{3000 + n}"
        assert_ok(api("group/create", **{**CREATE, "number": creator}))
    assert_error(api("group/create", **{**CREATE, "number": "+14155553999"}), "THROTTLE")
    assert not Group.objects.filter(owner__number="+14155553999").exists()
    # The creator's own sid makes an active group: that budget does not apply.
    assert_ok(api("group/create", **{**CREATE, "group": "Live"}, sid=family.owner.sid))


# --- Members added by one account -------------------------------------------------------------


def test_members_added_by_one_account_are_500_a_day(api, family, settings):
    assert settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT == "500/day"
    settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = "5/day"  # Dad, in the family, is the first
    sid, number = family.owner.sid, family.address_of(family.owner)
    body = {"group": "Big", "name": "Mom", "number": OWNER, **members(3)}
    assert_ok(api("group/create", sid=sid, **body))  # 4 added
    assert_ok(api("member/add", sid=sid, group=number, name="Kim", number="+14155554001"))  # 5
    response = api("member/add", sid=sid, group=number, name="Lee", number="+14155554002")
    assert_error(response, "THROTTLE")
    reply = api("message/send", sid=sid, number=number, message="*add Lee 4155554002").json()
    assert "today" in reply["reply"]
    assert not family.group.memberships.filter(name="Lee").exists()
    # A whole group over what is left is refused, with nothing created.
    assert_error(api("group/create", sid=sid, **{**body, "group": "Bigger"}), "THROTTLE")
    assert not Group.objects.filter(name="Bigger").exists()


def test_a_staged_group_counts_when_it_is_activated(api, settings):
    from tests.group_helpers import latest_pin

    settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = "3/day"
    # Staging in someone's name spends nothing of theirs.
    for name in ("One", "Two"):  # 3 members each but the creator
        assert_ok(api("group/create", **{**CREATE, "group": name, **members(2)}))
    body = assert_ok(api("group/create", **{**CREATE, "group": "Four"}, send_pin="1"))
    number = body["number"]
    assert_ok(api("group/set", pin=latest_pin(OWNER), pin_number=OWNER, number=number))
    assert Group.objects.get(name="Four").status == Group.Status.ACTIVE


def test_activating_a_group_over_the_budget_is_refused_and_keeps_the_pin(api, settings):
    from tests.group_helpers import latest_pin

    settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = "1/day"
    body = assert_ok(api("group/create", **{**CREATE, **members(2)}, send_pin="1"))
    pin = latest_pin(OWNER)
    response = api("group/set", pin=pin, pin_number=OWNER, number=body["number"])
    assert_error(response, "THROTTLE")
    assert Group.objects.get().status == Group.Status.PENDING
    settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = "2/day"
    assert_ok(api("group/set", pin=pin, pin_number=OWNER, number=body["number"]))


def test_a_refused_add_does_not_spend_the_budget(api, family, settings):
    settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = "2/day"  # Dad, in the family, is the first
    sid, number = family.owner.sid, family.address_of(family.owner)
    response = api("member/add", sid=sid, group=number, name="Dad", number="+14155554003")
    assert_error(response, "DUP_NAME")
    assert_ok(api("member/add", sid=sid, group=number, name="Kim", number="+14155554003"))


# --- Welcome and notice texts per destination number ------------------------------------------


def test_welcomes_past_3_a_day_to_one_number_are_skipped_with_the_reason(api, family, settings):
    assert settings.GROUPFLIER_BUDGET_NOTICES_PER_NUMBER == "3/day"
    sid, number = family.owner.sid, family.address_of(family.owner)
    victim = "+14155554010"
    for _ in range(3):  # add, remove, add again...: each add welcomes, each remove tells
        assert_ok(api("member/add", sid=sid, group=number, name="Kim", number=victim))
        assert_ok(api("member/remove", sid=sid, group=number, number=victim))
    assert len(texts_to(victim)) == 3
    skipped = OutboundSms.objects.filter(to=victim, status=OutboundSms.Status.SKIPPED)
    assert skipped.count() == 3
    assert all("GROUPFLIER_BUDGET_NOTICES_PER_NUMBER" in s.error for s in skipped)
    # The adds themselves went through.
    assert_ok(api("member/add", sid=sid, group=number, name="Kim", number=victim))
    assert family.group.memberships.filter(member__number=victim).exists()


def test_login_pins_have_their_own_budget_not_the_notices_one(api, family, settings):
    settings.GROUPFLIER_BUDGET_NOTICES_PER_NUMBER = "1/day"
    for _ in range(3):
        assert_ok(api("member/find", number=MEMBER))
    assert len([t for t in texts_to(MEMBER) if "PIN" in t]) == 3


# --- Pool numbers ------------------------------------------------------------------------------


def test_no_text_is_ever_sent_to_a_pool_number(db, django_capture_on_commit_callbacks):
    from texts.actions import queue_system_sms

    pool = str(PoolNumber.objects.first().number)
    with django_capture_on_commit_callbacks(execute=True):  # the hand-off holds it back
        sms = queue_system_sms(pool, "Hello", OutboundSms.Kind.REPLY)
    sms.refresh_from_db()
    assert sms.status == OutboundSms.Status.SKIPPED and "pool" in sms.error
    assert texts_to(pool) == []


def test_a_text_from_a_pool_number_gets_no_reply(db):
    pool = str(PoolNumber.objects.first().number)
    assert receive(Inbound(sender=pool, text="hello?", gateway="test")) is None
