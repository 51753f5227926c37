"""SPEC §3: `#` works as the command mark for the command words (`#bye` = `*bye`); any other
text starting with `#` is an ordinary message; and through a gateway whose character set has
no `*` (Group Texting) every text the service sends names the commands with `#`."""

from unittest import mock

import pytest

from groups.models import Membership
from messaging.inbound import HELP, Inbound, receive
from messaging.models import Message
from tests.conftest import MEMBER, assert_ok
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

GROUPTEXTING = "messaging.gateways.grouptexting.GroupTextingGateway"


@pytest.fixture
def say(api, family):
    def send(person, text):
        number = family.address_of(person)
        return assert_ok(api("message/send", sid=person.sid, number=number, message=text))

    return send


def test_hash_bye_and_hash_hi_act_like_star_bye(say, family):
    assert "left" in say(family.member, "#bye")["reply"]
    assert Membership.objects.get(group=family.group, member__number=MEMBER).bye
    assert "Welcome back" in say(family.member, "#HI")["reply"]
    assert not Membership.objects.get(group=family.group, member__number=MEMBER).bye
    assert "Mom (owner)" in say(family.member, "#who")["reply"]
    assert Message.objects.count() == 0


def test_any_other_hash_text_is_an_ordinary_message(say, family):
    say(family.owner, "#1 priority tonight")
    say(family.owner, "#")
    assert list(Message.objects.values_list("text", flat=True)) == ["#1 priority tonight", "#"]


def test_by_sms_hash_bye_leaves(family):
    receive(Inbound(sender=MEMBER, text="#bye", gateway="test"))
    assert Membership.objects.get(group=family.group, member__number=MEMBER).bye


def test_with_the_console_gateway_commands_keep_the_star(say, family):
    assert "*bye" in say(family.member, "*help")["reply"]


def sent_texts(kind, to):
    return list(OutboundSms.objects.filter(kind=kind, to=to).values_list("text", flat=True))


@pytest.fixture
def group_texting(settings):
    """Group Texting configured, with nothing sent: the texts stay queued for the test to read."""
    from messaging.gateways.base import SMS_GATEWAY

    settings.GROUPFLIER_SMS_GATEWAY = GROUPTEXTING
    settings.GROUPTEXTING_USER, settings.GROUPTEXTING_PASSWORD = "user", "password"
    SMS_GATEWAY.cache_clear()
    with mock.patch("groupflier.pipeline.rows.queue"):
        yield
    SMS_GATEWAY.cache_clear()


def test_through_group_texting_every_text_names_commands_with_hash(api, group_texting, say, family):
    sid, number = family.owner.sid, family.address_of(family.owner)
    assert_ok(api("member/add", sid=sid, group=number, name="Kim", number="+14155550150"))
    [welcome] = sent_texts(OutboundSms.Kind.WELCOME, "+14155550150")
    assert "#bye" in welcome and "*" not in welcome

    help_reply = say(family.member, "*help")["reply"]
    assert "#bye" in help_reply and "#who" in help_reply and "*" not in help_reply
    unknown = say(family.member, "#nonsense")  # an ordinary message, not a command
    assert "reply" not in unknown
    bye = say(family.member, "#bye")["reply"]
    assert "#hi" in bye and "*" not in bye
    refusal = say(family.member, "*remove Mom")["reply"]
    assert "*" not in refusal

    assert "#help" in receive(Inbound(sender="+14155550177", text="HELP", gateway="test"))
    assert "*" in HELP  # the same text through a gateway that carries `*`
    stop = receive(Inbound(sender="+14155550178", text="STOP", gateway="test"))
    assert "*" not in stop


def test_the_command_words_are_the_commands():
    from messaging.commands import COMMANDS
    from texts.marks import COMMAND_WORDS

    assert set(COMMAND_WORDS) == set(COMMANDS)
