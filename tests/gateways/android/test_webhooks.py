"""The Android app's webhooks at /webhooks/android/ (SPEC §4, §8): signed with the signing key
over the raw body and X-Timestamp, within five minutes, or refused with a 403; a repeated
event, or the same event through two registrations, counts once; received texts are routed by
(sender, number texted), keywords included; receipts move a part on from sent."""

import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from groups.models import Group, Membership
from members.models import Member
from messaging.models import Delivery, InboundSms, Message
from tests.conftest import MEMBER, OWNER, assert_ok, make_active_group
from tests.gateways.android.helpers import SENDERS, event, signed_headers
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

URL = "/webhooks/android/"
KEY = "the-signing-key"


@pytest.fixture(autouse=True)
def android_settings(settings):
    settings.ANDROID_GATEWAY_WEBHOOK_KEY = KEY
    settings.ANDROID_GATEWAY_SENDERS = SENDERS


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST an event as the app does, signed unless ``headers`` are given."""

    def post(body: str, *, headers=None):
        if headers is None:
            headers = signed_headers(body, key=KEY)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json", headers=headers)

    return post


def address(group, number) -> str:
    return str(Membership.objects.get(group=group, member__number=number).address.number)


def received(sender, recipient, message, *, received_at="2026-11-30T15:46:11.000+07:00", **extra):
    return {
        "messageId": "abc123",
        "message": message,
        "sender": sender,
        "recipient": recipient,
        "simNumber": 1,
        "receivedAt": received_at,
        **extra,
    }


# --- signatures -----------------------------------------------------------------------------


def test_a_missing_wrong_or_tampered_signature_is_refused(post):
    body = event("sms:received", received(MEMBER, "+12025550100", "hello"))
    assert post(body, headers={}).status_code == 403
    assert post(body, headers={"X-Signature": "00" * 32, "X-Timestamp": "1"}).status_code == 403
    good = signed_headers(body, key=KEY)
    tampered = body.replace("hello", "hullo")
    assert post(tampered, headers=good).status_code == 403
    assert post(body, headers=signed_headers(body, key="another-key")).status_code == 403
    stamp = str(int(good["X-Timestamp"]) + 1)  # the timestamp is signed too
    assert post(body, headers={**good, "X-Timestamp": stamp}).status_code == 403
    assert InboundSms.objects.count() == 0


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_request_older_or_newer_than_five_minutes_is_refused(post, age):
    body = event("sms:received", received(MEMBER, "+12025550100", "hello"))
    headers = signed_headers(body, key=KEY, timestamp=int(time.time()) - age)
    answer = post(body, headers=headers)
    assert answer.status_code == 403 and answer["Content-Type"].startswith("text/plain")
    assert InboundSms.objects.count() == 0


def test_within_five_minutes_it_is_taken(post):
    body = event("sms:received", received(MEMBER, "+12025550100", "hello"))
    assert post(body, headers=signed_headers(body, key=KEY, timestamp=int(time.time()) - 290))
    assert InboundSms.objects.count() == 1


def test_without_a_signing_key_nothing_is_taken(post, settings):
    settings.ANDROID_GATEWAY_WEBHOOK_KEY = ""
    body = event("sms:received", received(MEMBER, "+12025550100", "hello"))
    assert post(body, headers=signed_headers(body, key="")).status_code == 403


def test_only_a_signed_post_of_an_event_is_taken(client, post):
    assert client.get(URL).status_code == 405
    assert post("not json").status_code == 400
    assert post('{"event": "sms:received"}').status_code == 400
    assert post(event("system:ping", {"health": {}})).status_code == 200


# --- received texts -------------------------------------------------------------------------


def test_a_text_reaches_the_group_at_the_number_texted(post):
    make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    team = make_active_group("Team", "Coach", "+14155550199", [("Dad", MEMBER)]).group
    answer = post(event("sms:received", received(MEMBER, address(team, MEMBER), "Running late")))
    assert answer.status_code == 200
    assert Message.objects.get().group == team
    assert InboundSms.objects.get().gateway == "android"


def test_the_webhook_url_is_served_without_its_trailing_slash_too(client):
    make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    family_number = address(Group.objects.get(name="Family"), MEMBER)
    body = event("sms:received", received(MEMBER, family_number, "Running late"))
    answer = client.post(
        URL.rstrip("/"),
        body,
        content_type="application/json",
        headers=signed_headers(body, key=KEY),
    )
    assert answer.status_code == 200
    assert Message.objects.get().text == "Running late"


def test_without_the_phones_own_number_the_phone_and_sim_say_which_number_was_texted(post):
    make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    team = make_active_group("Team", "Coach", "+14155550199", [("Dad", MEMBER)]).group
    texted = address(team, MEMBER)
    phone = SENDERS[texted]
    payload = received(MEMBER, None, "Running late", simNumber=phone["sim"])
    post(event("sms:received", payload, device=phone["device_id"]))
    assert Message.objects.get().group == team


def test_a_text_from_before_the_apps_sender_field_is_taken(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    payload = received(None, None, "Old app", phoneNumber=MEMBER)
    payload.pop("sender")
    post(event("sms:received", payload))
    assert Message.objects.get().group == family


def test_a_repeated_event_and_the_same_text_through_two_registrations_count_once(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    payload = received(MEMBER, address(family, MEMBER), "Running late")
    for _ in range(2):  # the app's retry: the same event id
        assert post(event("sms:received", payload, event_id="A" * 21)).status_code == 200
    # A second registration (another URL, or the phone's local one beside the cloud's).
    post(event("sms:received", payload, event_id="B" * 21, device="localdevice0000000001"))
    assert Message.objects.count() == 1 and InboundSms.objects.count() == 1


def test_the_same_text_through_a_registration_retried_hours_later_counts_once(post):
    from messaging.inbound import _seen_key

    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    payload = received(MEMBER, texted, "Running late")
    post(event("sms:received", payload, event_id="A" * 21))
    cache.delete(_seen_key(MEMBER, texted, "Running late"))  # receive()'s two minutes are over
    post(event("sms:received", payload, event_id="B" * 21))  # the app retries for two days
    assert InboundSms.objects.count() == 1
    later = received(MEMBER, texted, "Running late", received_at="2026-11-30T18:00:00.000+07:00")
    post(event("sms:received", later, event_id="C" * 21))  # texted again: a new text
    assert InboundSms.objects.count() == 2


def test_a_star_commands_reply_goes_back_from_the_number_texted(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    post(event("sms:received", received(MEMBER, texted, "*who")))
    reply = OutboundSms.objects.get(kind=OutboundSms.Kind.REPLY)
    assert (reply.to, reply.from_number) == (MEMBER, texted)
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "Unsubscribe", "CANCEL", "END", "QUIT", "STOPALL"]
)
def test_stop_words_block_the_number_and_confirm_once(post, word):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    blocked_after = timezone.now()
    post(event("sms:received", received(MEMBER, texted, word)))
    assert Member.objects.get(number=MEMBER).blocked
    [confirmation] = OutboundSms.objects.filter(to=MEMBER, created_at__gt=blocked_after)
    assert confirmation.kind == OutboundSms.Kind.STOP_CONFIRMATION
    assert confirmation.from_number == texted
    assert not Message.objects.exists()


def test_start_lifts_the_block_and_help_answers(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    post(event("sms:received", received(MEMBER, texted, "STOP"), event_id="1" * 21))
    post(event("sms:received", received(MEMBER, texted, "START"), event_id="2" * 21))
    assert not Member.objects.get(number=MEMBER).blocked
    post(event("sms:received", received(MEMBER, texted, "HELP"), event_id="3" * 21))
    assert OutboundSms.objects.filter(to=MEMBER, text__contains="STOP stops").exists()


# --- receipts -------------------------------------------------------------------------------


@pytest.fixture
def sent_part(api, family):
    assert_ok(
        api(
            "message/send",
            sid=family.owner.sid,
            number=family.address_of(family.owner),
            message="Dinner at 6",
        )
    )
    part = Delivery.objects.get(to_number=MEMBER)
    Delivery.objects.filter(pk=part.pk).update(provider_ref="gf" + "0" * 32)
    part.refresh_from_db()
    return part


def outbound(name, message_id, **extra):
    return {
        "messageId": message_id,
        "sender": "+12025550100",
        "recipient": MEMBER,
        "phoneNumber": MEMBER,
        "simNumber": 1,
        **extra,
    }


def test_sent_then_delivered_moves_the_part_on_and_repeats_count_once(post, sent_part):
    ref = sent_part.provider_ref
    sent = outbound("sms:sent", ref, partsCount=1, sentAt="2026-11-30T10:00:00.000+07:00")
    assert post(event("sms:sent", sent, event_id="S" * 21)).status_code == 200
    assert Delivery.objects.get(pk=sent_part.pk).status == Delivery.Status.SENT
    delivered = outbound("sms:delivered", ref, deliveredAt="2026-11-30T10:00:05.000+07:00")
    for event_id in ("D" * 21, "D" * 21, "E" * 21):  # a retry, and another registration
        assert post(event("sms:delivered", delivered, event_id=event_id)).status_code == 200
    part = Delivery.objects.get(pk=sent_part.pk)
    assert part.status == Delivery.Status.DELIVERED and part.reason == ""


def test_failed_keeps_the_apps_reason(post, sent_part):
    failed = outbound(
        "sms:failed",
        sent_part.provider_ref,
        failedAt="2026-11-30T10:00:05.000+07:00",
        reason="RESULT_ERROR_GENERIC_FAILURE",
    )
    post(event("sms:failed", failed))
    part = Delivery.objects.get(pk=sent_part.pk)
    assert part.status == Delivery.Status.FAILED
    assert "RESULT_ERROR_GENERIC_FAILURE" in part.reason


def test_a_receipt_before_the_part_is_written_back_is_kept_for_it(post, sent_part):
    Delivery.objects.filter(pk=sent_part.pk).update(status=Delivery.Status.SENDING, provider_ref="")
    delivered = outbound("sms:delivered", "gf" + "1" * 32, deliveredAt="2026-11-30T10:00:05Z")
    assert post(event("sms:delivered", delivered)).status_code == 200
    from messaging.receipts import apply_pending

    Delivery.objects.filter(pk=sent_part.pk).update(
        status=Delivery.Status.SENT, provider_ref="gf" + "1" * 32
    )
    assert apply_pending(["gf" + "1" * 32]) == 1
    assert Delivery.objects.get(pk=sent_part.pk).status == Delivery.Status.DELIVERED
