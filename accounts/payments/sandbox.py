"""The default backend: an in-process processor with deterministic test cards, no network.

Every well-formed Visa, Mastercard or American Express number is taken and charged, except the
test numbers below, which behave like the processor's test cards of the same number do (they
are Stripe's). The behaviour is decided when the card is charged, so a client can put each of
them on file with /account/set and see its answer from /account/charge.

The token handed back carries the card's behaviour, so every process (web, worker) charges it
the same way without shared state. Ids derived from idempotency keys are stable, as a real
processor's replayed answers are.
"""

import hashlib
import secrets
from datetime import date

from accounts.cards import AMEX, MASTERCARD, VISA, CardNumber, Expiration
from accounts.payments.base import BasePaymentBackend, PaymentError, StoredCard

SUCCEEDS = "succeeds"
# reason -> whether it is permanent; the reasons are the processors' decline codes.
FAILURES = {
    "generic_decline": True,
    "insufficient_funds": True,
    "lost_card": True,
    "stolen_card": True,
    "expired_card": True,
    "processing_error": False,
}

TEST_NUMBERS = {
    "4000000000000002": "generic_decline",
    "4000000000000341": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4000000000000069": "expired_card",
    "4000000000000119": "processing_error",
}

# Stripe's test PaymentMethods, for clients that tokenise cards: (brand, last4, behaviour)
TEST_PAYMENT_METHODS = {
    "pm_card_visa": (VISA, "4242", SUCCEEDS),
    "pm_card_visa_debit": (VISA, "5556", SUCCEEDS),
    "pm_card_mastercard": (MASTERCARD, "4444", SUCCEEDS),
    "pm_card_amex": (AMEX, "0005", SUCCEEDS),
    "pm_card_discover": ("discover", "1117", SUCCEEDS),
    "pm_card_chargeDeclined": (VISA, "0002", "generic_decline"),
    "pm_card_chargeCustomerFail": (VISA, "0341", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": (VISA, "9995", "insufficient_funds"),
    "pm_card_chargeDeclinedLostCard": (VISA, "9987", "lost_card"),
    "pm_card_chargeDeclinedStolenCard": (VISA, "9979", "stolen_card"),
    "pm_card_chargeDeclinedExpiredCard": (VISA, "0069", "expired_card"),
    "pm_card_chargeDeclinedProcessingError": (VISA, "0119", "processing_error"),
}

TOKEN_PREFIX = "sandbox_pm_"


def _stable_id(prefix: str, key: str) -> str:
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:24]


def _token(behaviour: str) -> str:
    return f"{TOKEN_PREFIX}{secrets.token_hex(6)}_{behaviour}"


class SandboxBackend(BasePaymentBackend):
    def create_customer(self, *, email, idempotency_key):
        return _stable_id("sandbox_cus_", idempotency_key)

    def store_card(
        self, *, customer: str, number: CardNumber, expiration: Expiration, postal_code: str
    ) -> StoredCard:
        behaviour = TEST_NUMBERS.get(number.digits, SUCCEEDS)
        return StoredCard(
            token=_token(behaviour),
            brand=number.brand or "unknown",
            last4=number.last4,
            exp_month=expiration.month,
            exp_year=expiration.year,
        )

    def attach_payment_method(self, *, customer, token):
        if token not in TEST_PAYMENT_METHODS:
            raise PaymentError("invalid_payment_method", permanent=True)
        brand, last4, behaviour = TEST_PAYMENT_METHODS[token]
        # Like the processor's test cards: valid through December, a few years on.
        return StoredCard(
            token=_token(behaviour),
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=date.today().year + 3,
        )

    def forget_card(self, *, customer, token):
        return None  # nothing is kept here

    def charge(self, *, customer, token, amount, currency, idempotency_key, description):
        if not token.startswith(TOKEN_PREFIX):
            raise PaymentError("invalid_payment_method", permanent=True)
        behaviour = token[len(TOKEN_PREFIX) :].partition("_")[2]
        if behaviour in FAILURES:
            raise PaymentError(behaviour, permanent=FAILURES[behaviour])
        if behaviour != SUCCEEDS:
            raise PaymentError("invalid_payment_method", permanent=True)
        return _stable_id("sandbox_pi_", idempotency_key)

    def refund(self, *, payment, amount, idempotency_key):
        return _stable_id("sandbox_re_", idempotency_key)


# The short name sandbox in settings stands for this class.
Backend = SandboxBackend
