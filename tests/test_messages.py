"""/message/send, /message/get, /message/count, /message/grand/total and who receives what
(SPEC §3)."""

import pytest
from django.core.management import call_command

from accounts.models import Account
from groups.models import Group, Membership
from members.models import Member
from messaging.models import Delivery, Message
from tests.conftest import (
    MEMBER,
    OUTSIDER,
    OWNER,
    assert_error,
    assert_ok,
    make_active_group,
    texts_to,
)

pytestmark = pytest.mark.django_db

KID = "+14155550104"


@pytest.fixture
def say(api, family):
    """``say(person, text, **params)``: that person sends to the family group."""

    def send(person, text, **params):
        return api(
            "message/send", sid=person.sid, number=family.address_of(person), message=text, **params
        )

    return send


def read(api, family, person, **params):
    return assert_ok(
        api("message/get", sid=person.sid, number=family.address_of(person), **params)
    )["messages"]


def test_a_message_reaches_every_other_member_as_name_colon_text(say, family):
    assert assert_ok(say(family.owner, "Dinner at 6")) == {"status": "OK", "id": 1}
    assert texts_to(MEMBER) == ["Mom: Dinner at 6"]
    assert texts_to(OWNER) == []
    (delivery,) = Delivery.objects.all()
    assert (delivery.to_number, delivery.status) == (MEMBER, Delivery.Status.SENT)
    assert delivery.from_number == family.address_of(family.member)


def test_cc_sends_the_sender_a_copy(say, family):
    assert_ok(say(family.member, "On my way", cc="1"))
    assert texts_to(OWNER) == ["Dad: On my way"]
    assert texts_to(MEMBER) == ["Dad: On my way"]


def test_members_who_left_get_nothing(say, family):
    Membership.objects.filter(member__number=MEMBER).update(bye=True)
    assert_ok(say(family.owner, "Anyone?"))
    assert texts_to(MEMBER) == []


def test_sms_zero_is_skipped_with_its_reason(say, family):
    Membership.objects.filter(member__number=MEMBER).update(sms=False)
    assert_ok(say(family.owner, "Quiet"))
    assert texts_to(MEMBER) == []
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SKIPPED
    assert "sms=0" in delivery.reason


def test_a_blocked_member_is_skipped(say, family):
    Member.objects.filter(number=MEMBER).update(blocked=True)
    assert_ok(say(family.owner, "Hello"))
    assert texts_to(MEMBER) == []
    assert "STOP" in Delivery.objects.get().reason


def test_reply_to_owner_messages_reach_the_owner_alone(api, family):
    created = make_active_group("Club", "Coach", OUTSIDER, [("Dad", MEMBER), ("Kid", KID)])
    group = created.group
    Group.objects.filter(pk=group.pk).update(reply_to_owner=True)
    dad_sid, kid_sid = family.member.sid, _login(KID)
    dad_number = str(group.memberships.get(member__number=MEMBER).address.number)
    kid_number = str(group.memberships.get(member__number=KID).address.number)
    coach_number = str(group.memberships.get(member__number=OUTSIDER).address.number)

    assert_ok(api("message/send", sid=dad_sid, number=dad_number, message="Late today"))
    assert texts_to(OUTSIDER) == ["Dad: Late today"]
    assert texts_to(KID) == []
    # Only the owner and the sender see it.
    assert [m["txt"] for m in _get(api, dad_sid, dad_number)] == ["Late today"]
    assert _get(api, kid_sid, kid_number) == []
    assert [m["txt"] for m in _get(api, family.outsider.sid, coach_number)] == ["Late today"]
    # The owner's messages, and a broadcast member's, reach everyone.
    assert_ok(
        api("message/send", sid=family.outsider.sid, number=coach_number, message="Practice off")
    )
    assert texts_to(KID) == ["Coach: Practice off"]
    Membership.objects.filter(member__number=MEMBER, group=group).update(broadcast=True)
    assert_ok(api("message/send", sid=dad_sid, number=dad_number, message="Carpool?"))
    assert texts_to(KID)[-1] == "Dad: Carpool?"


def _login(number):
    from tests.conftest import login_as

    return login_as(number)


def _get(api, sid, number):
    return assert_ok(api("message/get", sid=sid, number=number))["messages"]


def test_send_errors(api, say, family):
    address = family.address_of(family.owner)
    response = api("message/send", sid=family.owner.sid)
    assert_error(response, "MISSING_FIELDS", ["number", "message"])
    assert_error(
        api("message/send", sid=family.owner.sid, number="x", message="hi"), "INVALID_NUMBER", "x"
    )
    assert_error(say(family.owner, "x" * 151), "MESSAGE_TOO_LONG")
    assert_ok(say(family.owner, "é" * 150))  # characters, not bytes
    response = api("message/send", sid=family.outsider.sid, number=address, message="hi")
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    assert_error(
        api("message/send", number=address, message="hi"), "AUTHORIZATION_REQUIRED", http_status=401
    )


def test_a_member_who_left_cannot_send_until_hi(say, family):
    Membership.objects.filter(member__number=MEMBER).update(bye=True)
    assert_error(say(family.member, "Hello?"), "MEMBER_LOOKUP_FAILED")
    assert assert_ok(say(family.member, "*hi"))["refresh"] == 1
    assert_ok(say(family.member, "Hello!"))


def test_suspended_groups_cannot_send(say, family):
    Group.objects.update(suspended=True)
    assert_error(say(family.owner, "Hello"), "SUSPENDED")
    Group.objects.update(suspended=False)
    Account.objects.filter(member__number=OWNER).update(balance=0)
    assert_error(say(family.member, "Hello"), "SUSPENDED")
    assert Message.objects.count() == 0


def test_each_sms_part_is_debited_to_the_owner(say, family, settings):
    settings.GROUPFLIER_SMS_PRICE = 2
    before = Account.objects.get(member__number=OWNER).balance
    assert_ok(say(family.member, "Hello"))  # a member's message is paid by the owner
    assert Account.objects.get(member__number=OWNER).balance == before - 2


# --- reading -----------------------------------------------------------------------------------


def test_ids_run_from_one_per_group_and_get_shows_sender_name_and_number(api, say, family):
    for text in ("one", "two", "three"):
        assert_ok(say(family.owner, text))
    make_active_group("Work", "Boss", OUTSIDER, [("Dad", MEMBER)])
    messages = read(api, family, family.member)
    assert [(m["id"], m["txt"], m["name"], m["number"]) for m in messages] == [
        (1, "one", "Mom", OWNER),
        (2, "two", "Mom", OWNER),
        (3, "three", "Mom", OWNER),
    ]
    assert all(isinstance(m["time"], int) for m in messages)


def test_get_one_message_and_ranges(api, say, family):
    for n in range(1, 8):
        assert_ok(say(family.owner, f"m{n}"))
    ids = lambda **p: [m["id"] for m in read(api, family, family.member, **p)]  # noqa: E731
    assert ids(message_id="3") == [3]
    assert ids(message_id="99") == []
    assert ids(message_from="5") == [5, 6, 7]
    assert ids(message_to="2") == [1, 2]
    assert ids(message_from="3", message_to="4") == [3, 4]


def test_get_without_a_range_answers_the_latest_hundred_and_a_range_at_most_500(api, family):
    group = family.group
    owner = group.memberships.get(member__number=OWNER)
    Message.objects.bulk_create(
        Message(group=group, seq=n, sender=owner, sender_name="Mom", text=f"m{n}")
        for n in range(1, 601)
    )
    latest = read(api, family, family.member)
    assert [m["id"] for m in latest] == list(range(501, 601))
    window = read(api, family, family.member, message_from="50")
    assert [m["id"] for m in window] == list(range(50, 550))


def test_get_errors(api, family):
    address = family.address_of(family.member)
    assert_error(api("message/get", sid=family.member.sid), "MISSING_FIELDS", ["number"])
    response = api("message/get", sid=family.member.sid, number=address, message_id="abc")
    assert_error(response, "INVALID_MESSAGE_ID", "message_id")
    response = api("message/get", sid=family.outsider.sid, number=address)
    assert_error(response, "MEMBER_LOOKUP_FAILED")


def test_count_per_group_and_for_one_group(api, say, family):
    assert_ok(say(family.owner, "one"))
    assert_ok(say(family.member, "two"))
    make_active_group("Work", "Boss", OUTSIDER, [("Dad", MEMBER)])
    body = assert_ok(api("message/count", sid=family.member.sid))
    counts = {r["number"]: r["count"] for r in body["results"]}
    assert counts[family.address_of(family.member)] == 2
    assert sorted(counts.values()) == [0, 2]
    one = assert_ok(
        api("message/count", sid=family.member.sid, number=family.address_of(family.member))
    )
    assert one["results"] == [{"number": family.address_of(family.member), "count": 2}]


def test_grand_total_counts_every_message_and_needs_no_session(api, say, family):
    before = assert_ok(api("message/grand/total"))["cnt"]
    assert_ok(say(family.owner, "one"))
    assert_ok(say(family.member, "two"))
    assert_ok(say(family.member, "*who"))  # a star command is not a message
    assert assert_ok(api("message/grand/total"))["cnt"] == before + 2


# --- star commands -----------------------------------------------------------------------------


def test_star_commands_are_not_stored_or_sent(say, family):
    body = assert_ok(say(family.member, "*WHO"))
    assert body == {"status": "OK", "refresh": 0, "reply": "Family: Mom (owner), Dad"}
    assert Message.objects.count() == 0
    assert texts_to(OWNER) == []


def test_star_add_remove_name_bye_hi(say, family):
    body = assert_ok(say(family.owner, "*add Aunt May (415) 555-0104"))
    assert body["refresh"] == 1 and "Aunt May" in body["reply"]
    assert family.group.memberships.filter(member__number=KID, name="Aunt May").exists()
    assert assert_ok(say(family.owner, "*remove aunt may"))["refresh"] == 1
    assert not family.group.memberships.filter(member__number=KID).exists()
    assert_ok(say(family.owner, "*add Kid 4155550104"))
    assert assert_ok(say(family.owner, "*remove +14155550104"))["refresh"] == 1
    assert assert_ok(say(family.member, "*name Papa"))["reply"] == "You are now Papa in Family."
    assert family.group.memberships.filter(member__number=MEMBER, name="Papa").exists()
    assert assert_ok(say(family.member, "*bye"))["refresh"] == 1
    assert assert_ok(say(family.member, "*bye"))["refresh"] == 0  # already out
    assert assert_ok(say(family.member, "*hi"))["refresh"] == 1


def test_star_commands_refuse_what_the_api_refuses(say, family):
    assert (
        assert_ok(say(family.member, "*remove Mom"))["reply"]
        == "Only the group's owner can do that."
    )
    assert "yourself" in assert_ok(say(family.owner, "*remove Mom"))["reply"]
    assert "already" in assert_ok(say(family.owner, "*add Papa 4155550102"))["reply"]
    Group.objects.update(disable_add=True, disable_who=True)
    assert "turned *add off" in assert_ok(say(family.member, "*add Kid 4155550104"))["reply"]
    assert "turned *who off" in assert_ok(say(family.member, "*who"))["reply"]
    assert "Mom (owner)" in assert_ok(say(family.owner, "*who"))["reply"]  # not for the owner


@pytest.mark.parametrize("text", ["*help", "*dance", "*"])
def test_help_and_unknown_commands_list_the_commands(say, family, text):
    body = assert_ok(say(family.member, text))
    assert body["refresh"] == 0 and "*who" in body["reply"] and "*bye" in body["reply"]


# --- the delivery report -------------------------------------------------------------------------


def test_the_admin_shows_a_delivery_report(admin_client, say, family):
    Membership.objects.filter(member__number=MEMBER).update(sms=False)
    assert_ok(say(family.owner, "Hello", cc="1"))
    message = Message.objects.get()
    page = admin_client.get(f"/admin/messaging/message/{message.pk}/change/").content.decode()
    assert "sent: 1" in page and "skipped: 1" in page and "sms=0" in page


def test_inbound_command_feeds_a_text_in(capsys, family):
    call_command(
        "inbound", "Running late", "--from", MEMBER, "--to", family.address_of(family.member)
    )
    assert Message.objects.get().text == "Running late"
    assert "No reply." in capsys.readouterr().out


def test_a_member_who_left_does_not_see_what_was_sent_while_away(api, say, family):
    """SPEC §3: not in /message/get nor /message/count; after *hi, what is sent from then on."""
    number = family.address_of(family.member)

    def count():
        body = assert_ok(api("message/count", sid=family.member.sid, number=number))
        return body["results"][0]["count"]

    assert_ok(say(family.owner, "before"))
    assert_ok(api("member/bye", sid=family.member.sid, group=number))
    assert_ok(say(family.owner, "while away"))
    assert [m["txt"] for m in read(api, family, family.member)] == ["before"]
    assert count() == 1
    assert_ok(say(family.member, "*hi"))
    assert_ok(say(family.owner, "after"))
    assert_ok(say(family.member, "*bye"))
    assert_ok(say(family.owner, "away again"))
    assert_ok(say(family.member, "*hi"))
    assert [m["txt"] for m in read(api, family, family.member)] == ["before", "after"]
    assert [m["txt"] for m in read(api, family, family.member, message_from=1)] == [
        "before",
        "after",
    ]
    assert read(api, family, family.member, message_id=2) == []
    assert count() == 2
    # Everyone else still sees everything.
    assert len(read(api, family, family.owner)) == 4
