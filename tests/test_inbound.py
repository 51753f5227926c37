"""Inbound SMS (SPEC §3 carrier keywords, §4 routing) and the Group Texting webhooks."""

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


# --- Group Texting webhooks ----------------------------------------------------------------------


@pytest.fixture
def webhook(settings, client):
    settings.GROUPTEXTING_WEBHOOK_SECRET = "s3cret"

    def call(kind, method="get", secret="s3cret", **params):
        return getattr(client, method)(f"/webhooks/grouptexting/{secret}/{kind}", params)

    return call


def test_the_inbox_url_takes_from_and_message(webhook, family):
    response = webhook("inbox", **{"from": "4155550102", "message": "Hi all"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert Message.objects.get().text == "Hi all"


def test_the_keyword_url_takes_phone_number_and_message_by_get_or_post(webhook, family):
    Group.objects.filter(pk=family.group.pk).update(invite_code="FamJam")
    response = webhook("keyword", method="post", PhoneNumber="4155550199", Message="FamJam Ann")
    assert response.content.decode().startswith("You joined Family")


def test_both_urls_called_for_one_text_count_once(webhook, family):
    webhook("keyword", PhoneNumber="4155550102", Message="Dinner?")
    webhook("inbox", **{"From": "4155550102", "Message": "Dinner?"})
    assert Message.objects.count() == 1


def test_the_reply_is_at_most_160_allowed_characters(webhook, family):
    Membership.objects.filter(group=family.group, member__number=MEMBER).update(
        name="Ünïcode “quoted”"
    )
    reply = webhook("inbox", **{"from": MEMBER, "message": "*who"}).content.decode()
    from messaging.gateways.grouptexting.text import is_allowed, weighted_length

    assert is_allowed(reply) and weighted_length(reply) <= 160
    make_active_group(
        "Big",
        "Boss",
        OUTSIDER,
        [(f"Person number {n}", f"+1415555{4000 + n:04d}") for n in range(20)],
    )
    reply = webhook("inbox", **{"from": OUTSIDER, "message": "*who"}).content.decode()
    assert weighted_length(reply) <= 160 and reply.endswith("...")


def test_a_wrong_secret_is_404_and_nothing_happens(webhook, family):
    response = webhook("inbox", secret="guess", **{"from": MEMBER, "message": "Hi"})
    assert response.status_code == 404
    assert Message.objects.count() == 0 and InboundSms.objects.count() == 0


def test_without_a_configured_secret_the_webhooks_are_off(client, family, settings):
    settings.GROUPTEXTING_WEBHOOK_SECRET = ""
    assert (
        client.get("/webhooks/grouptexting//inbox", {"from": MEMBER, "message": "x"}).status_code
        == 404
    )
    assert (
        client.get("/webhooks/grouptexting/x/inbox", {"from": MEMBER, "message": "x"}).status_code
        == 404
    )
