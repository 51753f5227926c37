"""The Stripe backend, through stripe-python, against a loopback stub of the Stripe endpoints it
calls (tests/stripe_stub.py): what it sends, and what it makes of Stripe's answers."""

import logging

import pytest
import stripe
from django.core.exceptions import ImproperlyConfigured

from accounts import billing
from accounts.models import Charge, LedgerEntry
from accounts.payments.stripe import StripeBackend
from tests.accounts_helpers import (
    VISA,
    account_of,
    account_set,
    assert_ledger_consistent,
    expiration,
    set_card,
)
from tests.conftest import assert_error, assert_ok
from tests.stripe_stub import SECRET_KEY, StripeStub

pytestmark = pytest.mark.django_db

BACKEND = "accounts.payments.stripe.StripeBackend"


@pytest.fixture
def stub(settings):
    stub = StripeStub()
    url = stub.start()
    settings.GROUPFLIER_PAYMENT_BACKEND = BACKEND
    settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS = {
        "secret_key": SECRET_KEY,
        "api_base": url,
        "timeout": 5,
        "max_network_retries": 0,
    }
    yield stub
    stub.stop()


def charge(api, person, amount=1500, **params):
    return api("account/charge", sid=person.sid, amount=amount, **params)


def test_a_card_goes_on_file_as_a_payment_method_of_a_customer(api, family, stub):
    body = set_card(api, family.owner, VISA, expiration(4, 9))
    assert body["cc_description"] == "Visa ending in 4242"
    customer_call, create_call, attach_call = stub.calls
    for call in stub.calls:
        assert call.method == "POST"
        assert call.headers["Authorization"] == f"Bearer {SECRET_KEY}"
        assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert customer_call.path == "/v1/customers"
    assert customer_call.form == {"email": "mom@example.com"}
    assert customer_call.headers["Idempotency-Key"].startswith("gf-customer-")
    assert create_call.path == "/v1/payment_methods"
    assert create_call.form == {
        "type": "card",
        "card[number]": VISA,
        "card[exp_month]": "9",
        "card[exp_year]": expiration(4, 9)[:4],
        "billing_details[address][postal_code]": "94110",
    }
    pm_id = next(iter(stub.payment_methods))
    assert attach_call.path == f"/v1/payment_methods/{pm_id}/attach"
    customer_id = next(iter(stub.customers))
    assert attach_call.form == {"customer": customer_id}
    account = account_of(family.owner)
    assert (account.processor_customer, account.card_token) == (customer_id, pm_id)
    assert (account.card_brand, account.card_last4, account.card_exp_month) == ("visa", "4242", 9)


def test_a_second_card_reuses_the_customer_and_detaches_the_first(api, family, stub):
    set_card(api, family.owner)
    first_pm = account_of(family.owner).card_token
    set_card(api, family.owner, "5555555555554444")
    assert len(stub.customers) == 1
    assert [call.path for call in stub.calls_to("/v1/payment_methods/")][-1] == (
        f"/v1/payment_methods/{first_pm}/detach"
    )
    assert stub.payment_methods[first_pm]["customer"] is None
    assert account_of(family.owner).card_last4 == "4444"


def test_a_charge_is_an_off_session_payment_intent_with_the_charges_key(
    api, family, stub, settings
):
    set_card(api, family.owner)
    body = assert_ok(charge(api, family.owner, 2500))
    assert body["balance"] == settings.GROUPFLIER_TRIAL_BALANCE + 2500
    (call,) = stub.calls_to("/v1/payment_intents")
    account = account_of(family.owner)
    paid = Charge.objects.get()
    assert call.headers["Idempotency-Key"] == paid.processor_key
    assert call.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert call.form == {
        "amount": "2500",
        "currency": "usd",
        "customer": account.processor_customer,
        "payment_method": account.card_token,
        "off_session": "true",
        "confirm": "true",
        "description": f"GroupFlier top-up, account {account.pk}",
    }
    (intent,) = stub.succeeded_intents()
    assert paid.payment_reference == intent["id"]
    assert account.type == "P"
    assert_ledger_consistent(account)


def test_a_card_stripe_declines_when_attached(api, family, stub):
    response = account_set(
        api, family.owner, cc_number="4000000000009995", cc_expiration=expiration()
    )
    assert_error(response, "DECLINED", "insufficient_funds")
    assert account_of(family.owner).card_token == ""


def test_a_card_stripe_says_has_expired(api, family, stub):
    response = account_set(
        api, family.owner, cc_number="4000000000000069", cc_expiration=expiration()
    )
    assert_error(response, "INVALID_CC_EXPIRATION")


def test_a_decline_when_charged(api, family, stub, settings):
    set_card(api, family.owner, "4000000000000341")
    assert_error(charge(api, family.owner), "DECLINED", "generic_decline")
    assert Charge.objects.get().status == "declined"
    account = account_of(family.owner)
    assert (account.balance, account.type) == (settings.GROUPFLIER_TRIAL_BALANCE, "T")
    assert not account.ledger.filter(kind=LedgerEntry.Kind.CHARGE).exists()


@pytest.mark.parametrize(
    "token, answer",
    [
        ("pm_card_mastercard", "Mastercard ending in 4444"),
        ("pm_card_amex", "American Express ending in 0005"),
        ("pm_card_discover", "INVALID_CC_TYPE"),
        ("pm_does_not_exist", "INVALID_CC_NUMBER"),
    ],
)
def test_client_tokenised_cards(api, family, stub, token, answer):
    response = account_set(api, family.owner, payment_method=token)
    if answer.startswith("INVALID"):
        assert_error(response, answer)
        assert account_of(family.owner).card_token == ""
        if token == "pm_card_discover":
            # The card Stripe attached is taken off file again.
            assert stub.calls[-1].path.endswith("/detach")
    else:
        assert assert_ok(response)["cc_description"] == answer
        assert not stub.calls_to("/v1/payment_methods/pm_card")[0].form.get("card[number]")
        assert_ok(charge(api, family.owner))


def test_an_answer_lost_on_the_way_back_is_not_charged_twice(api, family, stub, settings):
    """Stripe made the charge but the answer never arrived; the client retries."""
    set_card(api, family.owner)
    stub.drop_answer_of.add("/v1/payment_intents")
    assert_error(charge(api, family.owner, 2000), "DECLINED", "processor_unavailable")
    assert len(stub.succeeded_intents()) == 1  # Stripe has the money already
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE

    assert_ok(charge(api, family.owner, 2000))
    first, retry = stub.calls_to("/v1/payment_intents")
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    assert len(stub.succeeded_intents()) == 1
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2000
    assert Charge.objects.get().payment_reference == stub.succeeded_intents()[0]["id"]


def test_stripe_pythons_own_retries_reuse_the_key(api, family, stub, settings):
    settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS = {
        **settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS,
        "max_network_retries": 1,
    }
    set_card(api, family.owner)
    stub.drop_answer_of.add("/v1/payment_intents")
    assert_ok(charge(api, family.owner, 2000))
    first, retry = stub.calls_to("/v1/payment_intents")
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    assert len(stub.succeeded_intents()) == 1
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2000


def test_a_stripe_outage_fails_the_charge_and_a_retry_makes_it(api, family, stub):
    set_card(api, family.owner)
    stub.fail_next["/v1/payment_intents"] = 503
    assert_error(charge(api, family.owner, 2000), "DECLINED", "processor_error")
    assert Charge.objects.get().status == "failed"
    assert_ok(charge(api, family.owner, 2000, idempotency_key="after-outage"))
    assert len(stub.succeeded_intents()) == 1


def test_a_wrong_secret_key_is_reported_not_crashed_on(api, family, stub, settings, caplog):
    set_card(api, family.owner)
    settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS = {
        **settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS,
        "secret_key": "sk_test_wrong",
    }
    assert_error(charge(api, family.owner), "DECLINED", "processor_misconfigured")
    assert "Stripe refused the secret key" in caplog.text
    assert stub.calls[-1].headers["Authorization"] == "Bearer sk_test_wrong"


def test_a_refund_goes_to_stripe_with_its_own_key(api, family, stub):
    set_card(api, family.owner)
    paid = billing.charge_account(account_of(family.owner), 3000)
    refunded = billing.refund_charge(paid)
    (call,) = stub.calls_to("/v1/refunds")
    assert call.form == {"payment_intent": paid.payment_reference, "amount": "3000"}
    assert call.headers["Idempotency-Key"] == f"{paid.processor_key}-refund"
    assert refunded.refund_reference == next(iter(stub.refunds))
    assert_ledger_consistent(account_of(family.owner))


def test_stripes_debug_log_never_shows_the_card_number(api, family, stub, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="stripe")
    set_card(api, family.owner)
    details = [r.getMessage() for r in caplog.records if "Post details" in r.getMessage()]
    assert details, "stripe-python's request log is what this guards against"
    assert any("[redacted]" in message for message in details)
    assert VISA not in caplog.text


def test_configuration_errors():
    with pytest.raises(ImproperlyConfigured, match="secret_key"):
        StripeBackend()


def test_stripe_log_debug_is_refused(monkeypatch):
    monkeypatch.setattr(stripe, "log", "debug")
    with pytest.raises(ImproperlyConfigured, match="STRIPE_LOG"):
        StripeBackend(secret_key=SECRET_KEY)
