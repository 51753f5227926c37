"""/account/set, /account/password, /account/balance and /account/charge (seed, SPEC §5)."""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from accounts.models import Account, Charge, LedgerEntry
from accounts.payments.base import PaymentError
from accounts.payments.sandbox import SandboxBackend
from tests.accounts_helpers import (
    VISA,
    account_of,
    account_set,
    assert_ledger_consistent,
    expiration,
    set_card,
)
from tests.conftest import assert_error, assert_ok

pytestmark = pytest.mark.django_db


def charge(api, person, amount=1500, **params):
    return api("account/charge", sid=person.sid, amount=amount, **params)


# --- /account/set ----------------------------------------------------------------------------


def test_set_keeps_email_zip_and_only_what_may_be_kept_of_the_card(api, family):
    body = set_card(api, family.owner, "4242-4242 4242 4242", expiration(3, 11))
    assert body == {"status": "OK", "cc_description": "Visa ending in 4242"}
    account = account_of(family.owner)
    assert (account.email, account.zip) == ("mom@example.com", "94110")
    assert (account.card_brand, account.card_last4) == ("visa", "4242")
    assert (account.card_exp_year, account.card_exp_month) == (timezone.now().year + 3, 11)
    assert account.card_token.startswith("sandbox_pm_")
    assert account.payment_backend == "accounts.payments.sandbox.SandboxBackend"


@pytest.mark.parametrize(
    "number, description",
    [
        ("5555555555554444", "Mastercard ending in 4444"),
        ("2223003122003222", "Mastercard ending in 3222"),  # the 2-series range
        ("378282246310005", "American Express ending in 0005"),
        ("4000056655665556", "Visa ending in 5556"),
    ],
)
def test_set_takes_the_three_brands(api, family, number, description):
    assert set_card(api, family.owner, number)["cc_description"] == description


def test_set_without_a_card_updates_email_and_zip_and_describes_the_card_on_file(api, family):
    body = assert_ok(account_set(api, family.owner))
    assert body["cc_description"] is None
    set_card(api, family.owner)
    body = assert_ok(account_set(api, family.owner, email="new@example.com", zip="10001"))
    assert body["cc_description"] == "Visa ending in 4242"
    account = account_of(family.owner)
    assert (account.email, account.zip, account.card_last4) == ("new@example.com", "10001", "4242")


def test_a_new_card_replaces_the_old_one(api, family):
    set_card(api, family.owner)
    old_token = account_of(family.owner).card_token
    assert set_card(api, family.owner, "5555555555554444")["cc_description"].endswith("4444")
    assert account_of(family.owner).card_token != old_token


@pytest.mark.parametrize(
    "params, missing",
    [
        ({}, ["email", "zip"]),
        ({"email": "  ", "zip": "94110"}, ["email"]),
        ({"email": "a@example.com", "zip": "94110", "cc_number": VISA}, ["cc_expiration"]),
        ({"email": "a@example.com", "zip": "94110", "cc_expiration": "2040-01"}, ["cc_number"]),
        ({"cc_number": VISA}, ["email", "zip", "cc_expiration"]),
    ],
)
def test_set_missing_fields_in_seed_order_and_cards_come_in_pairs(api, family, params, missing):
    response = api("account/set", sid=family.owner.sid, **params)
    assert_error(response, "MISSING_FIELDS", missing)


def test_set_invalid_email(api, family):
    assert_error(account_set(api, family.owner, email="not-an-email"), "INVALID_EMAIL")


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424241",  # fails the Luhn check
        "4242 4242 4242 424X",
        "1234",
        "42424242424242424242",  # 20 digits
        "4242.4242.4242.4242",
        "４２４２４２４２４２４２４２４２",  # full-width digits
        "4" + "0" * 13 + "7",  # Luhn-valid Visa prefix, but 15 digits
    ],
)
def test_set_invalid_card_number_is_not_echoed(api, family, number):
    response = account_set(api, family.owner, cc_number=number, cc_expiration=expiration())
    body = assert_error(response, "INVALID_CC_NUMBER")
    assert "error_subtype" not in body
    assert account_of(family.owner).card_token == ""


@pytest.mark.parametrize(
    "number",
    ["6011111111111117", "3530111333300000", "36227206271667", "6200000000000005"],
    ids=["discover", "jcb", "diners", "unionpay"],
)
def test_set_only_visa_mastercard_and_amex(api, family, number):
    response = account_set(api, family.owner, cc_number=number, cc_expiration=expiration())
    body = assert_error(response, "INVALID_CC_TYPE")
    assert "error_subtype" not in body


def past_month() -> str:
    now = timezone.now()
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year}-{month:02d}"


@pytest.mark.parametrize(
    "value",
    ["past", "2040-13", "2040-00", "2040/06", "06/40", "2040-6", "40-06", "2099-01", "soon"],
)
def test_set_invalid_or_past_expiration(api, family, value):
    value = past_month() if value == "past" else value
    response = account_set(api, family.owner, cc_number=VISA, cc_expiration=value)
    assert_error(response, "INVALID_CC_EXPIRATION")


def test_a_card_is_good_through_its_expiry_month(api, family):
    now = timezone.now()
    set_card(api, family.owner, cc_expiration=f"{now.year}-{now.month:02d}")


def test_set_checks_formats_in_seed_order_then_the_account(api, family):
    bad_everything = dict(email="nope", cc_number="1234", cc_expiration="1999-01")
    assert_error(account_set(api, family.owner, **bad_everything), "INVALID_EMAIL")
    bad_card = dict(cc_number="1234", cc_expiration="1999-01")
    assert_error(account_set(api, family.owner, **bad_card), "INVALID_CC_EXPIRATION")
    # A member without an account hears about the format first, then NO_ACCOUNT.
    assert_error(
        account_set(api, family.member, cc_number="1234", cc_expiration=expiration()),
        "INVALID_CC_NUMBER",
    )
    assert_error(account_set(api, family.member), "NO_ACCOUNT")
    assert_error(account_set(api, family.outsider), "NO_ACCOUNT")


def test_set_needs_a_session(api, family):
    assert_error(
        api("account/set", email="a@example.com", zip="1"),
        "AUTHORIZATION_REQUIRED",
        http_status=401,
    )
    assert_error(
        api("account/set", sid="bogus", email="a@example.com", zip="1"),
        "AUTHORIZATION_REQUIRED",
        http_status=401,
    )


def test_set_with_a_client_tokenised_card(api, family):
    body = assert_ok(account_set(api, family.owner, payment_method="pm_card_mastercard"))
    assert body["cc_description"] == "Mastercard ending in 4444"
    assert account_of(family.owner).card_token.startswith("sandbox_pm_")


@pytest.mark.parametrize(
    "token, error",
    [("pm_card_discover", "INVALID_CC_TYPE"), ("pm_no_such_card", "INVALID_CC_NUMBER")],
)
def test_set_with_a_token_the_service_cannot_take(api, family, token, error):
    assert_error(account_set(api, family.owner, payment_method=token), error)
    assert account_of(family.owner).card_token == ""


def test_set_with_both_a_number_and_a_token_is_a_400(api, family):
    response = account_set(
        api, family.owner, cc_number=VISA, cc_expiration=expiration(), payment_method="pm_card_visa"
    )
    assert_error(response, "BAD_REQUEST", http_status=400)


def test_a_card_the_processor_refuses_to_keep_is_declined_and_nothing_is_saved(
    api, family, monkeypatch
):
    def refuse(self, **kwargs):
        raise PaymentError("generic_decline", permanent=True)

    monkeypatch.setattr(SandboxBackend, "store_card", refuse)
    response = account_set(
        api, family.owner, email="x@example.com", cc_number=VISA, cc_expiration=expiration()
    )
    assert_error(response, "DECLINED", "generic_decline")
    account = account_of(family.owner)
    assert (account.card_token, account.email) == ("", "")


def test_an_account_submits_a_limited_number_of_cards(api, family, settings):
    from tests.conftest import make_active_group

    settings.GROUPFLIER_THROTTLE_CARDS_PER_ACCOUNT = "3/hour"
    for _ in range(3):
        set_card(api, family.owner)
    response = account_set(api, family.owner, cc_number=VISA, cc_expiration=expiration())
    assert_error(response, "THROTTLE")
    assert_error(account_set(api, family.owner, payment_method="pm_card_visa"), "THROTTLE")
    # Email and zip alone touch no processor, and another account has its own budget.
    assert_ok(account_set(api, family.owner, email="other@example.com"))
    make_active_group("Work", "Dad", family.member.number, [("Boss", "+14155550199")])
    set_card(api, family.member)


# --- /account/password -------------------------------------------------------------------------


def test_password_is_hashed_and_logs_the_member_in(api, family):
    assert_ok(api("account/password", sid=family.owner.sid, password="correct horse"))
    stored = account_of(family.owner).password
    assert "correct horse" not in stored and check_password("correct horse", stored)
    assert assert_ok(api("member/find", number=family.owner.number))["has_password"] == 1
    body = assert_ok(api("member/login", number=family.owner.number, pin="correct horse"))
    assert body["sid"] and body["sid"] != family.owner.sid
    assert_ok(api("account/balance", sid=body["sid"]))
    assert_error(api("member/login", number=family.owner.number, pin="wrong horse"), "INVALID_PIN")


def test_a_new_password_replaces_the_old(api, family):
    assert_ok(api("account/password", sid=family.owner.sid, password="first"))
    assert_ok(api("account/password", sid=family.owner.sid, password="second"))
    assert_error(api("member/login", number=family.owner.number, pin="first"), "INVALID_PIN")
    assert_ok(api("member/login", number=family.owner.number, pin="second"))


def test_password_errors(api, family):
    assert_error(api("account/password", sid=family.owner.sid), "MISSING_FIELDS", ["password"])
    assert_error(api("account/password", sid=family.member.sid, password="x"), "NO_ACCOUNT")
    assert_error(api("account/password", password="x"), "AUTHORIZATION_REQUIRED", http_status=401)


# --- /account/balance --------------------------------------------------------------------------


def test_balance_of_a_new_account_is_the_trial_credit(api, family, settings):
    body = assert_ok(api("account/balance", sid=family.owner.sid))
    assert body == {
        "status": "OK",
        "balance": settings.GROUPFLIER_TRIAL_BALANCE,
        "suspended": 0,
        "type": "T",
    }


def test_balance_shows_suspension_at_zero(api, family):
    from accounts import billing

    account = account_of(family.owner)
    billing.adjust_balance(account, -account.balance, "used up", by="test")
    assert assert_ok(api("account/balance", sid=family.owner.sid))["suspended"] == 1
    Account.objects.filter(pk=account.pk).update(type=Account.Type.FREE)
    body = assert_ok(api("account/balance", sid=family.owner.sid))
    assert (body["suspended"], body["type"]) == (0, "F")


def test_balance_without_an_account(api, family):
    assert_error(api("account/balance", sid=family.member.sid), "NO_ACCOUNT")
    assert_error(api("account/balance"), "AUTHORIZATION_REQUIRED", http_status=401)


# --- /account/charge ---------------------------------------------------------------------------


def test_charge_credits_the_balance_and_makes_the_account_paid(api, family, settings):
    set_card(api, family.owner)
    body = assert_ok(charge(api, family.owner, 1500))
    trial = settings.GROUPFLIER_TRIAL_BALANCE
    assert body == {"status": "OK", "balance": trial + 1500}
    account = account_of(family.owner)
    assert (account.balance, account.type) == (trial + 1500, "P")
    entry = account.ledger.get(kind=LedgerEntry.Kind.CHARGE)
    paid = Charge.objects.get()
    assert (entry.amount, entry.reference) == (1500, f"charge:{paid.pk}")
    assert (paid.status, paid.card_description) == ("succeeded", "Visa ending in 4242")
    assert paid.payment_reference.startswith("sandbox_pi_")
    assert_ledger_consistent(account)


@pytest.mark.parametrize("amount", [1000, 100000])
def test_charge_limits_are_inclusive(api, family, amount):
    set_card(api, family.owner)
    assert_ok(charge(api, family.owner, amount))


@pytest.mark.parametrize(
    "amount", [999, 100001, 0, -1000, "abc", "10.00", "1e4", "1,000", "+1000", "١٠٠٠", "9" * 5000]
)
def test_charge_invalid_amount(api, family, amount):
    set_card(api, family.owner)
    assert_error(charge(api, family.owner, amount), "INVALID_AMOUNT")
    assert not Charge.objects.exists()


def test_charge_json_amounts(api, family):
    set_card(api, family.owner)
    assert_ok(api("account/charge", via="json", sid=family.owner.sid, amount=2500))
    assert_error(
        api("account/charge", via="json", sid=family.owner.sid, amount=2500.5), "INVALID_AMOUNT"
    )


def test_charge_errors_in_order(api, family):
    assert_error(api("account/charge", sid=family.owner.sid), "MISSING_FIELDS", ["amount"])
    assert_error(charge(api, family.member, 10), "INVALID_AMOUNT")
    assert_error(charge(api, family.member), "NO_ACCOUNT")
    assert_error(charge(api, family.owner), "NO_CREDIT_CARD")
    assert_error(api("account/charge", amount=1500), "AUTHORIZATION_REQUIRED", http_status=401)


def test_charge_of_an_expired_card_on_file(api, family):
    set_card(api, family.owner)
    now = timezone.now()
    last_year_month = (now.year - 1, now.month)
    Account.objects.filter(member__number=family.owner.number).update(
        card_exp_year=last_year_month[0], card_exp_month=last_year_month[1]
    )
    assert_error(charge(api, family.owner), "EXPIRED_CREDIT_CARD")
    assert not Charge.objects.exists()


@pytest.mark.parametrize(
    "number, error, subtype",
    [
        ("4000000000000002", "DECLINED", "generic_decline"),
        ("4000000000000341", "DECLINED", "generic_decline"),
        ("4000000000009995", "DECLINED", "insufficient_funds"),
        ("4000000000009987", "DECLINED", "lost_card"),
        ("4000000000009979", "DECLINED", "stolen_card"),
        ("4000000000000119", "DECLINED", "processing_error"),
        ("4000000000000069", "EXPIRED_CREDIT_CARD", ...),
    ],
)
def test_sandbox_test_cards_decline(api, family, settings, number, error, subtype):
    set_card(api, family.owner, number)
    assert_error(charge(api, family.owner), error, subtype)
    account = account_of(family.owner)
    assert (account.balance, account.type) == (settings.GROUPFLIER_TRIAL_BALANCE, "T")
    assert not account.ledger.filter(kind=LedgerEntry.Kind.CHARGE).exists()


def test_a_free_account_is_never_charged(api, family):
    set_card(api, family.owner)
    Account.objects.filter(member__number=family.owner.number).update(type=Account.Type.FREE)
    assert_error(charge(api, family.owner), "DECLINED", "free_account")
    assert not Charge.objects.exists()


def test_a_charge_lifts_the_suspension(api, family):
    from accounts import billing

    set_card(api, family.owner)
    account = account_of(family.owner)
    billing.adjust_balance(account, -account.balance - 300, "overdrawn", by="test")
    assert assert_ok(api("account/balance", sid=family.owner.sid))["suspended"] == 1
    assert_ok(charge(api, family.owner, 1000))
    body = assert_ok(api("account/balance", sid=family.owner.sid))
    assert (body["balance"], body["suspended"], body["type"]) == (700, 0, "P")


# --- a retried /account/charge does not charge twice -------------------------------------------


def test_a_repeated_idempotency_key_charges_once(api, family, settings):
    set_card(api, family.owner)
    first = assert_ok(charge(api, family.owner, 2000, idempotency_key="top-up-1"))
    again = assert_ok(charge(api, family.owner, 2000, idempotency_key="top-up-1"))
    assert first == again
    assert Charge.objects.count() == 1
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2000
    # A new key is a new top-up, even of the same amount at once.
    assert_ok(charge(api, family.owner, 2000, idempotency_key="top-up-2"))
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 4000


def test_an_idempotency_key_reused_for_another_amount_is_a_400(api, family):
    set_card(api, family.owner)
    assert_ok(charge(api, family.owner, 2000, idempotency_key="k"))
    assert_error(
        charge(api, family.owner, 3000, idempotency_key="k"), "BAD_REQUEST", http_status=400
    )
    assert Charge.objects.count() == 1


def test_keys_are_per_account(api, family):
    from tests.conftest import make_active_group

    set_card(api, family.owner)
    make_active_group("Work", "Dad", family.member.number, [("Boss", "+14155550199")])
    set_card(api, family.member)
    assert_ok(charge(api, family.owner, 2000, idempotency_key="same"))
    assert_ok(charge(api, family.member, 2000, idempotency_key="same"))
    assert Charge.objects.filter(status="succeeded").count() == 2


def test_a_keyed_decline_is_answered_again_for_that_key(api, family):
    set_card(api, family.owner, "4000000000009995")
    assert_error(charge(api, family.owner, idempotency_key="k"), "DECLINED", "insufficient_funds")
    set_card(api, family.owner, VISA)
    assert_error(charge(api, family.owner, idempotency_key="k"), "DECLINED", "insufficient_funds")
    assert_ok(charge(api, family.owner, idempotency_key="k2"))


def test_without_a_key_a_double_submit_charges_once(api, family, settings):
    set_card(api, family.owner)
    assert_ok(charge(api, family.owner, 2000))
    assert_ok(charge(api, family.owner, 2000))
    assert Charge.objects.count() == 1
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2000
    # Another amount is another top-up.
    assert_ok(charge(api, family.owner, 3000))
    assert Charge.objects.count() == 2


def test_without_a_key_the_same_amount_later_is_a_new_charge(api, family, settings):
    set_card(api, family.owner)
    assert_ok(charge(api, family.owner, 2000))
    Charge.objects.update(
        created_at=timezone.now() - settings.GROUPFLIER_CHARGE_RETRY_WINDOW - timedelta(seconds=1)
    )
    assert_ok(charge(api, family.owner, 2000))
    assert Charge.objects.filter(status="succeeded").count() == 2


def test_without_a_key_a_new_card_is_a_new_charge(api, family):
    set_card(api, family.owner)
    assert_ok(charge(api, family.owner, 2000))
    set_card(api, family.owner, "5555555555554444")
    assert_ok(charge(api, family.owner, 2000))
    assert Charge.objects.filter(status="succeeded").count() == 2


def test_without_a_key_a_declined_charge_is_asked_again(api, family):
    set_card(api, family.owner, "4000000000000002")
    assert_error(charge(api, family.owner), "DECLINED", "generic_decline")
    assert_error(charge(api, family.owner), "DECLINED", "generic_decline")
    assert Charge.objects.filter(status="declined").count() == 2


@pytest.mark.parametrize("key", ["", "retry-me"])
def test_a_charge_the_processor_could_not_finish_is_retried_with_the_same_processor_key(
    api, family, monkeypatch, settings, key
):
    """The first answer was lost: the processor may have made the charge. The retry must ask
    with the same key so that the processor replays it rather than charging again."""
    keys_seen = []
    real_charge = SandboxBackend.charge

    def answer_lost_once(self, **kwargs):
        keys_seen.append(kwargs["idempotency_key"])
        result = real_charge(self, **kwargs)
        if len(keys_seen) == 1:
            raise PaymentError("processor_unavailable", permanent=False)
        return result

    monkeypatch.setattr(SandboxBackend, "charge", answer_lost_once)
    set_card(api, family.owner)
    params = {"idempotency_key": key} if key else {}
    assert_error(charge(api, family.owner, 2000, **params), "DECLINED", "processor_unavailable")
    assert Charge.objects.get().status == "failed"
    assert_ok(charge(api, family.owner, 2000, **params))
    assert keys_seen[0] == keys_seen[1] == Charge.objects.get().processor_key
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2000
    assert_ok(charge(api, family.owner, 2000, **params))
    assert len(keys_seen) == 2  # settled: the processor is not asked again


def test_a_long_idempotency_key(api, family):
    set_card(api, family.owner)
    assert_error(charge(api, family.owner, idempotency_key="k" * 101), "TOO_LONG")
    assert_ok(charge(api, family.owner, idempotency_key="k" * 100))
