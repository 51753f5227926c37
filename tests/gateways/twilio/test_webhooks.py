"""Twilio's webhooks (SPEC §4, §8): signed by Twilio for GROUPFLIER_PUBLIC_URL + path or
refused with a 403, answered at once, a repeated callback taken once; texts routed by (sender,
number texted); receipts move a part on from sent."""

import pytest
from twilio.request_validator import RequestValidator

from groups.models import Membership
from messaging.models import Delivery, InboundSms, Message
from tests.conftest import MEMBER, OWNER, assert_ok, make_active_group
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

PUBLIC = "https://groupflier.example.org"
TOKEN = "twilio-auth-token"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.GROUPFLIER_PUBLIC_URL = PUBLIC
    settings.TWILIO_AUTH_TOKEN = TOKEN


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a Twilio callback, signed as Twilio signs it unless ``signature`` is given."""

    def post(path, params, *, signature=None, signed_url=None):
        url = signed_url or f"{PUBLIC}{path}"
        if signature is None:
            signature = RequestValidator(TOKEN).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, params, headers=headers)

    return post


def inbound_text(sender, to, body, sid="SM" + "1" * 32, **extra):
    return {"From": sender, "To": to, "Body": body, "MessageSid": sid, "NumMedia": "0", **extra}


def address(group, number) -> str:
    return str(Membership.objects.get(group=group, member__number=number).address.number)


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webhooks/twilio/inbound", "/webhooks/twilio/status"])
def test_a_missing_or_wrong_signature_is_refused(post, path):
    params = inbound_text(MEMBER, "+12025550100", "hello")
    assert post(path, params, signature="").status_code == 403
    assert post(path, params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    other_url = f"https://elsewhere.example.org{path}"
    assert post(path, params, signed_url=other_url).status_code == 403
    good = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", params)
    tampered = {**params, "Body": "something else"}
    assert post(path, tampered, signature=good).status_code == 403
    assert InboundSms.objects.count() == 0


def test_without_an_auth_token_or_a_public_url_nothing_is_taken(post, settings):
    params = inbound_text(MEMBER, "+12025550100", "hello")
    settings.GROUPFLIER_PUBLIC_URL = ""
    assert post("/webhooks/twilio/inbound", params).status_code == 403
    settings.GROUPFLIER_PUBLIC_URL, settings.TWILIO_AUTH_TOKEN = PUBLIC, ""
    assert post("/webhooks/twilio/inbound", params).status_code == 403


def test_only_post_is_taken(client):
    assert client.get("/webhooks/twilio/inbound").status_code == 405


# --- inbound ------------------------------------------------------------------------------


def test_a_text_reaches_the_group_at_the_number_texted_and_the_answer_is_empty_twiml(post):
    first = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    second = make_active_group("Team", "Coach", "+14155550199", [("Dad", MEMBER)]).group
    answer = post(
        "/webhooks/twilio/inbound", inbound_text(MEMBER, address(second, MEMBER), "Running late")
    )
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in answer.content and b"<Message" not in answer.content
    assert Message.objects.get().group == second
    assert not first.messages.exists()


def test_a_repeated_text_is_taken_once(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    params = inbound_text(MEMBER, address(family, MEMBER), "Running late")
    for _ in range(3):
        assert post("/webhooks/twilio/inbound", params).status_code == 200
    assert Message.objects.count() == 1
    assert InboundSms.objects.count() == 1


def test_a_star_commands_reply_goes_from_the_number_texted(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    post("/webhooks/twilio/inbound", inbound_text(MEMBER, texted, "*who"))
    reply = OutboundSms.objects.get(kind=OutboundSms.Kind.REPLY)
    assert (reply.to, reply.from_number) == (MEMBER, texted)
    assert "Mom" in reply.text
    assert not Message.objects.exists()


def test_a_picture_message_delivers_its_text_and_says_pictures_are_not_carried(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    texted = address(family, MEMBER)
    params = inbound_text(
        MEMBER, texted, "Look at this", NumMedia="1", MediaUrl0="https://example.org/p.jpg"
    )
    post("/webhooks/twilio/inbound", params)
    assert Message.objects.get().text == "Look at this"
    [note] = OutboundSms.objects.filter(to=MEMBER, kind=OutboundSms.Kind.REPLY)
    assert "pictures" in note.text and note.from_number == texted


def test_a_picture_alone_gets_the_note_and_sends_nothing_to_the_group(post):
    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    params = inbound_text(MEMBER, address(family, MEMBER), "", NumMedia="2", sid="MM" + "2" * 32)
    assert post("/webhooks/twilio/inbound", params).status_code == 200
    assert not Message.objects.exists()
    assert OutboundSms.objects.filter(to=MEMBER, text__contains="pictures").count() == 1


def test_stop_blocks_the_number(post):
    from members.models import Member

    family = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)]).group
    post("/webhooks/twilio/inbound", inbound_text(MEMBER, address(family, MEMBER), "STOP"))
    assert Member.objects.get(number=MEMBER).blocked


# --- receipts -----------------------------------------------------------------------------


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
    return Delivery.objects.get(to_number=MEMBER)


def status_callback(sid, status, **extra):
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "To": MEMBER, **extra}


def test_delivered_moves_the_part_on_and_a_repeat_counts_once(post, sent_part):
    ref = sent_part.provider_ref
    assert post("/webhooks/twilio/status", status_callback(ref, "sent")).status_code == 200
    assert Delivery.objects.get(pk=sent_part.pk).status == Delivery.Status.SENT
    for _ in range(2):
        assert post("/webhooks/twilio/status", status_callback(ref, "delivered")).status_code == 200
    assert Delivery.objects.get(pk=sent_part.pk).status == Delivery.Status.DELIVERED


@pytest.mark.parametrize(
    ("status", "final"),
    [("undelivered", Delivery.Status.UNDELIVERED), ("failed", Delivery.Status.FAILED)],
)
def test_an_undelivered_or_failed_receipt_keeps_twilios_error_code(post, sent_part, status, final):
    params = status_callback(sent_part.provider_ref, status, ErrorCode="30003")
    post("/webhooks/twilio/status", params)
    part = Delivery.objects.get(pk=sent_part.pk)
    assert part.status == final and part.reason.startswith("30003")
