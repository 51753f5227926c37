"""/member/find, /member/login, /member/logout and sessions (SPEC §2)."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import Account
from members.models import ApiSession, LoginGuard, LoginPin, Member
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_error, assert_ok, texts_to

pytestmark = pytest.mark.django_db


def pin_from_outbox(number) -> str:
    return re.search(r"\b(\d{6})\b", texts_to(number)[-1]).group(1)


def find_and_read_pin(api, number=MEMBER) -> str:
    assert_ok(api("member/find", number=number))
    return pin_from_outbox(number)


# --- /member/find ---------------------------------------------------------------------------


def test_find_texts_a_six_digit_pin_and_says_whether_there_is_a_password(api, family):
    body = assert_ok(api("member/find", number="(415) 555-0102"))
    assert body == {"status": "OK", "has_password": 0}
    assert re.fullmatch(
        r"Your GroupFlier PIN is \d{6}\. It expires in 10 minutes\.", texts_to(MEMBER)[-1]
    )


def test_find_reports_a_password(api, family):
    Account.objects.filter(member__number=OWNER).update(password=make_password("hunter22"))
    assert assert_ok(api("member/find", number=OWNER))["has_password"] == 1


def test_find_errors(api, family):
    assert_error(api("member/find"), "MISSING_FIELDS", ["number"])
    assert_error(api("member/find", number="12"), "INVALID_NUMBER", "12")
    assert_error(api("member/find", number="+14155550199"), "NOT_FOUND")


def test_find_for_a_blocked_number_sends_nothing(api, family):
    Member.objects.filter(number=MEMBER).update(blocked=True)
    assert_error(api("member/find", number=MEMBER), "BLOCKED_NUMBER", MEMBER)
    assert texts_to(MEMBER) == []


def test_find_stops_at_five_pins_per_number_per_hour(api, family):
    for _ in range(5):
        assert_ok(api("member/find", number=MEMBER))
    assert_error(api("member/find", number=MEMBER), "THROTTLE")
    assert len(texts_to(MEMBER)) == 5
    assert_ok(api("member/find", number=OWNER))  # another number has its own budget


def test_find_is_throttled_per_client_address(api, family, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "3/minute"
    for _ in range(3):
        assert_ok(api("member/find", number=OWNER))
    assert_error(api("member/find", number=OUTSIDER), "THROTTLE")


def test_behind_trusted_proxies_each_client_address_has_its_own_budget(client, family, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "1/minute"
    settings.GROUPFLIER_TRUSTED_PROXIES = 1

    def find(forwarded_for):
        return client.post("/member/find", {"number": OWNER}, HTTP_X_FORWARDED_FOR=forwarded_for)

    assert_ok(find("203.0.113.7"))
    assert_ok(find("203.0.113.8"))  # another client behind the same proxy
    assert_error(find("203.0.113.7"), "THROTTLE")
    # A client cannot pose as another by writing its own X-Forwarded-For entry first.
    assert_error(find("198.51.100.1, 203.0.113.7"), "THROTTLE")


def test_without_trusted_proxies_x_forwarded_for_is_ignored(client, family, settings):
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "1/minute"
    assert_ok(client.post("/member/find", {"number": OWNER}, HTTP_X_FORWARDED_FOR="203.0.113.7"))
    response = client.post("/member/find", {"number": OWNER}, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert_error(response, "THROTTLE")


def test_the_pin_is_stored_only_as_a_hash(api, family):
    pin = find_and_read_pin(api)
    stored = LoginPin.objects.get(member__number=MEMBER)
    assert pin not in stored.pin_hash
    lifetime = stored.expires_at - stored.created_at
    assert abs(lifetime - timedelta(minutes=10)) < timedelta(seconds=1)


# --- /member/login --------------------------------------------------------------------------


def test_login_with_the_pin_gives_a_working_sid(api, family):
    pin = find_and_read_pin(api)
    sid = assert_ok(api("member/login", number=MEMBER, pin=pin, source="iphone app"))["sid"]
    assert len(sid) >= 22  # at least 128 bits, URL-safe
    assert assert_ok(api("member/groups", sid=sid))["number"] == MEMBER


def test_a_pin_works_once(api, family):
    pin = find_and_read_pin(api)
    assert_ok(api("member/login", number=MEMBER, pin=pin))
    assert_error(api("member/login", number=MEMBER, pin=pin), "INVALID_PIN")


def test_an_expired_pin_is_invalid(api, family):
    pin = find_and_read_pin(api)
    LoginPin.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(api("member/login", number=MEMBER, pin=pin), "INVALID_PIN")


def test_another_numbers_pin_is_invalid(api, family):
    pin = find_and_read_pin(api, OWNER)
    assert_error(api("member/login", number=MEMBER, pin=pin), "INVALID_PIN")


def test_login_with_the_account_password(api, family):
    Account.objects.filter(member__number=OWNER).update(password=make_password("hunter22"))
    assert_ok(api("member/login", number=OWNER, pin="hunter22"))
    assert_error(api("member/login", number=OWNER, pin="hunter23"), "INVALID_PIN")


def test_login_errors(api, family):
    assert_error(api("member/login"), "MISSING_FIELDS", ["number", "pin"])
    assert_error(api("member/login", number="nope", pin="1"), "INVALID_NUMBER", "nope")
    assert_error(api("member/login", number=MEMBER, pin="000000"), "INVALID_PIN")
    assert_error(api("member/login", number="+14155550199", pin="000000"), "INVALID_PIN")


def test_five_failures_lock_the_number_out_even_with_the_right_pin(api, family):
    pin = find_and_read_pin(api)
    wrong = "999999" if pin != "999999" else "888888"
    for _ in range(5):
        assert_error(api("member/login", number=MEMBER, pin=wrong), "INVALID_PIN")
    assert_error(api("member/login", number=MEMBER, pin=pin), "LOCKOUT")
    assert_ok(api("member/login", number=OWNER, pin=find_and_read_pin(api, OWNER)))


def test_the_lockout_lasts_fifteen_minutes(api, family):
    pin = find_and_read_pin(api)
    for _ in range(5):
        api("member/login", number=MEMBER, pin="bad")
    guard = LoginGuard.objects.get(number=MEMBER)
    assert timedelta(minutes=14) < guard.locked_until - timezone.now() <= timedelta(minutes=15)
    LoginGuard.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert_ok(api("member/login", number=MEMBER, pin=pin))


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(api, family):
    pin = find_and_read_pin(api)
    for _ in range(4):
        api("member/login", number=MEMBER, pin="bad")
    LoginGuard.objects.update(window_started_at=timezone.now() - timedelta(minutes=16))
    api("member/login", number=MEMBER, pin="bad")
    assert_ok(api("member/login", number=MEMBER, pin=pin))


def test_a_success_clears_earlier_failures(api, family):
    for _ in range(4):
        api("member/login", number=MEMBER, pin="bad")
    assert_ok(api("member/login", number=MEMBER, pin=find_and_read_pin(api)))
    for _ in range(4):
        api("member/login", number=MEMBER, pin="bad")
    assert_ok(api("member/login", number=MEMBER, pin=find_and_read_pin(api)))


# --- sessions and /member/logout -------------------------------------------------------------


def test_the_sid_is_stored_only_as_its_hash(api, family):
    sid = assert_ok(api("member/login", number=MEMBER, pin=find_and_read_pin(api)))["sid"]
    assert not ApiSession.objects.filter(key_hash=sid).exists()
    assert ApiSession.objects.filter(key_hash=hashlib.sha256(sid.encode()).hexdigest()).exists()


def test_logout_ends_the_session(api, family):
    assert_ok(api("member/logout", sid=family.member.sid))
    assert_error(
        api("member/groups", sid=family.member.sid), "AUTHORIZATION_REQUIRED", http_status=401
    )
    assert_error(
        api("member/logout", sid=family.member.sid), "AUTHORIZATION_REQUIRED", http_status=401
    )
    assert_ok(api("member/groups", sid=family.owner.sid))  # other sessions live on


def test_a_session_expires_after_ninety_idle_days(api, family):
    ApiSession.objects.update(last_used_at=timezone.now() - timedelta(days=90, minutes=1))
    assert_error(
        api("member/groups", sid=family.member.sid), "AUTHORIZATION_REQUIRED", http_status=401
    )


def test_use_keeps_a_session_alive(api, family):
    ApiSession.objects.update(last_used_at=timezone.now() - timedelta(days=89))
    assert_ok(api("member/groups", sid=family.member.sid))
    session = ApiSession.objects.get(member__number=MEMBER)
    assert timezone.now() - session.last_used_at < timedelta(minutes=1)
