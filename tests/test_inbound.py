"""Inbound SMS (SPEC §3 carrier keywords, §4 routing); each provider's webhooks are tested in
tests/gateways/<provider>/."""

import pytest

from groups.models import Group, Membership
from members.models import Member
from messaging.inbound import HELP, STARTED, STOPPED, STRANGER, Inbound, receive
from messaging.models import InboundSms, Message
from tests.conftest import (
    MEMBER,
    OUTSIDER,
    OWNER,
    assert_error,
    make_active_group,
    texts_to,
)

pytestmark = pytest.mark.django_db

STRANGER_NUMBER = "+14155550199"


def text_in(sender, text, to=""):
    return receive(Inbound(sender=sender, text=text, to_number=to, gateway="test"))


def test_a_text_to_the_group_number_goes_to_that_group(family, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            text_in("(415) 555-0102", "Running late", to=family.address_of(family.member)) is None
        )
    message = Message.objects.get()
    assert (message.group, message.sender_name, message.source) == (family.group, "Dad", "sms")
    assert texts_to(OWNER) == ["Dad: Running late"]
    assert InboundSms.objects.get().group == family.group


def test_without_a_destination_the_most_recent_group_gets_it(family):
    work = make_active_group("Work", "Boss", OUTSIDER, [("Dad", MEMBER)]).group
    Membership.objects.filter(group=work, member__number=MEMBER).update(
        last_exchanged_at=family.group.created_at.replace(year=2000)
    )
    text_in(MEMBER, "Which group?")
    assert Message.objects.get().group == family.group
    text_in(MEMBER, "Work one", to=str(work.memberships.get(member__number=MEMBER).address.number))
    text_in(MEMBER, "Now which?")
    assert Message.objects.latest("id").group == work  # the one exchanged with most recently


def test_star_commands_by_sms_reply_to_the_sender(family):
    assert text_in(MEMBER, "*who") == "Family: Mom (owner), Dad"
    assert Message.objects.count() == 0


def test_a_stranger_gets_a_short_help_reply(db):
    assert text_in(STRANGER_NUMBER, "hello?") == STRANGER
    assert not Member.objects.filter(number=STRANGER_NUMBER).exists()


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit"]
)
def test_stop_words_block_the_number_from_every_text(api, family, word):
    assert text_in(MEMBER, word) == STOPPED
    assert Member.objects.get(number=MEMBER).blocked
    assert text_in(MEMBER, "hello") is None  # no text goes to a blocked number
    response = api(
        "member/add",
        sid=family.owner.sid,
        group=family.address_of(family.owner),
        name="Again",
        number=MEMBER,
    )
    assert_error(response, "BLOCKED_NUMBER", MEMBER)
    work = {
        "group": "Work",
        "name": "Boss",
        "number": OUTSIDER,
        "name_0": "Dad",
        "number_0": MEMBER,
    }
    assert_error(api("group/create", **work), "BLOCKED_NUMBER", MEMBER)


@pytest.mark.parametrize("word", ["START", "yes", "Unstop"])
def test_start_words_lift_the_block(family, word):
    text_in(MEMBER, "STOP")
    assert text_in(MEMBER, word) == STARTED
    assert not Member.objects.get(number=MEMBER).blocked


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_words_answer_help(db, word):
    assert text_in(STRANGER_NUMBER, word) == HELP


def test_a_stop_from_a_stranger_still_blocks(db):
    assert text_in(STRANGER_NUMBER, "STOP") == STOPPED
    assert Member.objects.get(number=STRANGER_NUMBER).blocked


def test_an_invite_code_joins_with_the_rest_as_the_name(family):
    Group.objects.filter(pk=family.group.pk).update(invite_code="FamJam")
    reply = text_in(STRANGER_NUMBER, "famjam Cousin Ann")
    assert "You joined Family" in reply
    assert family.group.memberships.filter(
        member__number=STRANGER_NUMBER, name="Cousin Ann"
    ).exists()


def test_an_invite_code_without_a_name_asks_for_one(family):
    Group.objects.filter(pk=family.group.pk).update(invite_code="FamJam")
    assert (
        text_in(STRANGER_NUMBER, "FAMJAM") == "To join Family, text FAMJAM followed by your name."
    )


def test_the_same_text_delivered_twice_counts_once(family):
    text_in(MEMBER, "Only once please")
    text_in(MEMBER, "Only once please")
    assert Message.objects.count() == 1
    assert InboundSms.objects.count() == 1
