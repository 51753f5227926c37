"""SPEC §7: /device/register and /device/release."""

import pytest

from devices.models import Device
from members.models import Member
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_error, assert_ok

pytestmark = pytest.mark.django_db

APNS_TOKEN = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
FCM_TOKEN = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


def device(token):
    return Device.objects.get(token=token)


def test_register_binds_the_token_to_the_number_in_e164(api):
    assert_ok(api("device/register", number="(415) 555-0102", type="iphone", token=APNS_TOKEN))
    registered = device(APNS_TOKEN)
    assert (str(registered.number), registered.type) == (MEMBER, "iphone")
    assert registered.verified is False


@pytest.mark.parametrize("via", ["form", "json", "query"])
@pytest.mark.parametrize("path", ["device/register", "device/register/"])
def test_register_answers_only_status_by_every_transport(api, via, path):
    body = assert_ok(
        api(
            path,
            via=via,
            method="get" if via == "query" else "post",
            number=MEMBER,
            type="android",
            token=FCM_TOKEN,
        )
    )
    assert body == {"status": "OK"}


def test_register_needs_no_member_and_makes_none(api):
    # Anyone may call it for any number: only joining a group makes a member (SPEC §2).
    assert_ok(api("device/register", number="4155550177", type="android", token=FCM_TOKEN))
    assert not Member.objects.filter(number="+14155550177").exists()
    assert str(device(FCM_TOKEN).number) == "+14155550177"


def test_a_sid_of_that_number_verifies_the_device(api, family):
    assert_ok(
        api(
            "device/register", sid=family.member.sid, number=MEMBER, type="iphone", token=APNS_TOKEN
        )
    )
    assert device(APNS_TOKEN).verified is True


def test_a_sid_of_another_number_does_not_verify(api, family):
    assert_ok(
        api("device/register", sid=family.owner.sid, number=MEMBER, type="iphone", token=APNS_TOKEN)
    )
    assert device(APNS_TOKEN).verified is False


@pytest.mark.parametrize("sid", ["not-a-session", "x" * 300])
def test_a_bad_sid_is_no_error_and_verifies_nothing(api, family, sid):
    assert_ok(api("device/register", sid=sid, number=MEMBER, type="iphone", token=APNS_TOKEN))
    assert device(APNS_TOKEN).verified is False


def test_registering_again_with_a_sid_verifies_an_unverified_device(api, family):
    assert_ok(api("device/register", number=MEMBER, type="android", token=FCM_TOKEN))
    assert_ok(
        api(
            "device/register", sid=family.member.sid, number=MEMBER, type="android", token=FCM_TOKEN
        )
    )
    assert device(FCM_TOKEN).verified is True
    assert Device.objects.count() == 1


def test_the_same_number_registering_again_without_a_sid_stays_verified(api, family):
    # Apps register at every launch; the phone behind the token is still the one that proved
    # the number, so its notifications keep their content.
    assert_ok(
        api(
            "device/register", sid=family.member.sid, number=MEMBER, type="iphone", token=APNS_TOKEN
        )
    )
    assert_ok(api("device/register", number=MEMBER, type="iphone_no_notify", token=APNS_TOKEN))
    registered = device(APNS_TOKEN)
    assert (registered.verified, registered.type) == (True, "iphone_no_notify")


def test_a_token_belongs_to_one_number_at_a_time_registering_it_again_moves_it(api, family):
    assert_ok(
        api(
            "device/register", sid=family.member.sid, number=MEMBER, type="iphone", token=APNS_TOKEN
        )
    )
    Device.objects.filter(token=APNS_TOKEN).update(last_push_status="sent")
    assert_ok(api("device/register", number=OUTSIDER, type="iphone", token=APNS_TOKEN))
    moved = device(APNS_TOKEN)
    assert str(moved.number) == OUTSIDER
    # Verification was the previous number's; so was the last push result.
    assert (moved.verified, moved.last_push_status) == (False, "")
    assert Device.objects.count() == 1


def test_a_number_may_have_several_devices(api):
    assert_ok(api("device/register", number=MEMBER, type="iphone", token=APNS_TOKEN))
    assert_ok(api("device/register", number=MEMBER, type="android", token=FCM_TOKEN))
    assert Device.objects.filter(number=MEMBER).count() == 2


def test_an_old_ios_token_description_is_the_same_device(api):
    # [NSData description] gave "<740f4707 bebcf74f ...>"; APNs wants the bare hex.
    described = "<" + " ".join(APNS_TOKEN[i : i + 8].upper() for i in range(0, 64, 8)) + ">"
    assert_ok(api("device/register", number=MEMBER, type="iphone", token=described))
    assert_ok(api("device/register", number=MEMBER, type="iphone", token=APNS_TOKEN))
    assert list(Device.objects.values_list("token", flat=True)) == [APNS_TOKEN]


def test_android_tokens_are_kept_exactly(api):
    assert_ok(api("device/register", number=MEMBER, type="android", token="AbC:dEf-1"))
    assert Device.objects.get().token == "AbC:dEf-1"


def test_register_missing_fields_in_the_documented_order(api):
    assert_error(api("device/register"), "MISSING_FIELDS", ["number", "type", "token"])
    assert_error(
        api("device/register", type="iphone", token="  "), "MISSING_FIELDS", ["number", "token"]
    )


@pytest.mark.parametrize("device_type", ["ipad", "IPHONE", "Android", "iphone_no_notif"])
def test_register_an_unknown_type_is_invalid_type_without_subtype(api, device_type):
    response = api("device/register", number=MEMBER, type=device_type, token=APNS_TOKEN)
    body = assert_error(response, "INVALID_TYPE")
    assert "error_subtype" not in body
    assert not Device.objects.exists()


def test_register_an_invalid_number_echoes_it(api):
    response = api("device/register", number="555", type="iphone", token=APNS_TOKEN)
    assert_error(response, "INVALID_NUMBER", "555")


def test_number_errors_come_before_type_errors(api):
    # The seed's order of parameters: number, type, token.
    response = api("device/register", number="555", type="ipad", token=APNS_TOKEN)
    assert_error(response, "INVALID_NUMBER", "555")


def test_an_overlong_token_is_too_long(api):
    token = "a" * 513
    assert_error(
        api("device/register", number=MEMBER, type="android", token=token), "TOO_LONG", token
    )
    assert_ok(api("device/register", number=MEMBER, type="android", token="a" * 512))


@pytest.mark.parametrize("token", ["abc\x00def", "abc\x07", "abc\ud800"])
def test_a_token_with_control_characters_is_a_bad_request_not_a_fault(api, token):
    response = api("device/register", via="json", number=MEMBER, type="android", token=token)
    assert_error(response, "BAD_REQUEST", "token", http_status=400)


def test_register_is_throttled_per_client_address(api, client, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "2/minute"
    for n in range(2):
        assert_ok(api("device/register", number=MEMBER, type="android", token=f"t{n}"))
    # Throttle comes first of all checks, even before MISSING_FIELDS.
    assert_error(api("device/register"), "THROTTLE")
    other_address = client.post(
        "/device/register",
        {"number": MEMBER, "type": "android", "token": "t9"},
        REMOTE_ADDR="192.0.2.7",
    )
    assert_ok(other_address)


# --- /device/release --------------------------------------------------------------------------
def register(number, device_type, token):
    from devices import actions

    return actions.register_device(number, device_type, token, None)


def test_release_removes_the_callers_devices_of_that_type_only(api, family):
    register(MEMBER, "iphone", APNS_TOKEN)
    register(MEMBER, "iphone", "1" * 64)
    register(MEMBER, "android", FCM_TOKEN)
    register(OWNER, "iphone", "2" * 64)
    body = assert_ok(api("device/release", sid=family.member.sid, type="iphone"))
    assert body == {"status": "OK"}
    remaining = set(Device.objects.values_list("number", "type"))
    assert remaining == {(MEMBER, "android"), (OWNER, "iphone")}


def test_release_with_nothing_registered_is_ok(api, family):
    assert_ok(api("device/release", sid=family.outsider.sid, type="iphone_no_notify"))


@pytest.mark.parametrize("sid", [None, "", "not-a-session"])
def test_release_needs_a_session(api, sid):
    params = {"type": "iphone"} if sid is None else {"sid": sid, "type": "iphone"}
    assert_error(api("device/release", **params), "AUTHORIZATION_REQUIRED", http_status=401)


def test_release_checks_the_session_before_missing_fields(api):
    assert_error(api("device/release"), "AUTHORIZATION_REQUIRED", http_status=401)


def test_release_missing_and_invalid_type(api, family):
    assert_error(api("device/release", sid=family.member.sid), "MISSING_FIELDS", ["type"])
    body = assert_error(api("device/release", sid=family.member.sid, type="pager"), "INVALID_TYPE")
    assert "error_subtype" not in body


def test_both_endpoints_are_in_the_openapi_document_with_their_tokens(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    register_doc = document["paths"]["/device/register"]["post"]
    assert {"number", "type", "token", "sid"} <= set(
        register_doc["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    for token in ("THROTTLE", "MISSING_FIELDS", "INVALID_TYPE", "INVALID_NUMBER"):
        assert f"`{token}`" in register_doc["description"]
    release_doc = document["paths"]["/device/release"]["post"]
    assert "401" in release_doc["responses"]
    assert "`INVALID_TYPE`" in release_doc["description"]
