"""SPEC §3: a text that arrives by SMS may be longer than 150 characters (phones join long
texts); it is stored and delivered whole up to 1,600 characters, never refused or lost. A
webhook call that fails leaves the text unseen, so the gateway's retry gets through."""

from unittest import mock

import pytest

from messaging import inbound
from messaging.inbound import Inbound, receive
from messaging.models import InboundSms, Message
from tests.conftest import MEMBER, OWNER, assert_error, texts_to

pytestmark = pytest.mark.django_db


def test_a_long_text_by_sms_is_stored_and_delivered_whole(
    family, django_capture_on_commit_callbacks
):
    long_text = "Running late because " + "the traffic is awful " * 40  # ~860 characters
    long_text = long_text.strip()
    with django_capture_on_commit_callbacks(execute=True):
        receive(Inbound(sender=MEMBER, text=long_text, gateway="test"))
    assert Message.objects.get().text == long_text
    assert "".join(texts_to(OWNER)) == f"Dad: {long_text}"


def test_a_text_over_1600_characters_is_cut_there(family, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        receive(Inbound(sender=MEMBER, text="x" * 2000, gateway="test"))
    assert Message.objects.get().text == "x" * 1600


def test_the_api_keeps_its_150_character_limit(api, family):
    number = family.address_of(family.member)
    response = api("message/send", sid=family.member.sid, number=number, message="y" * 151)
    assert_error(response, "MESSAGE_TOO_LONG")


def test_a_webhook_that_fails_leaves_the_text_unseen_for_the_retry(family):
    with mock.patch.object(inbound, "route", side_effect=RuntimeError("database went away")):
        with pytest.raises(RuntimeError):
            receive(Inbound(sender=MEMBER, text="Retry me", gateway="test"))
    assert not InboundSms.objects.exists()
    receive(Inbound(sender=MEMBER, text="Retry me", gateway="test"))  # the gateway's retry
    assert Message.objects.get().text == "Retry me"
    assert InboundSms.objects.count() == 1
