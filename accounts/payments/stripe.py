"""Stripe, through the official stripe-python library.

A customer per account; a card on file is a PaymentMethod attached to it (created here from
the number, or tokenised by the client's Stripe SDK and passed as ``payment_method``); a top-up
is an off-session PaymentIntent confirmed at once, sent with the charge's idempotency key so
that a retry after a lost answer returns the first result instead of charging again.

Options (``GROUPFLIER_PAYMENT_BACKEND_OPTIONS``): ``secret_key`` (required), ``api_base``
(default ``https://api.stripe.com``; tests point it at a loopback stub), ``timeout`` seconds
(default 30) and ``max_network_retries`` (default 2; stripe-python retries with the same key).

Sending raw card numbers needs the Stripe account's "raw card data" permission; without it,
clients tokenise cards with Stripe's SDK and pass ``payment_method`` instead.
"""

import logging
import os

import stripe
from django.core.exceptions import ImproperlyConfigured

from accounts.cards import CardNumber, Expiration, RedactCardNumbers
from accounts.payments.base import BasePaymentBackend, PaymentError, StoredCard

logger = logging.getLogger(__name__)

# stripe-python logs every request's form body, card[number] included, at DEBUG.
logging.getLogger("stripe").addFilter(RedactCardNumbers())

# Card errors that say the processor could not decide now, rather than that the card was refused.
TRANSIENT_CARD_CODES = {"processing_error", "try_again_later"}


def _payment_error(exc: stripe.StripeError) -> PaymentError:
    """One PaymentError from each kind of Stripe failure. Messages are not kept: codes are."""
    error = exc.error
    code = exc.code or (error.code if error else None)
    if isinstance(exc, stripe.CardError):
        reason = (error.decline_code if error else None) or code or "card_declined"
        return PaymentError(reason, permanent=code not in TRANSIENT_CARD_CODES)
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
        return PaymentError("processor_unavailable", permanent=False)
    if isinstance(exc, stripe.IdempotencyError):
        return PaymentError("idempotency_error", permanent=True)
    if isinstance(exc, stripe.InvalidRequestError):
        if code == "resource_missing" and exc.param == "payment_method":
            return PaymentError("invalid_payment_method", permanent=True)
        # 409: a request with the same key is still running at Stripe; the retry will replay it.
        if exc.http_status == 409 or code == "idempotency_key_in_use":
            return PaymentError("processor_busy", permanent=False)
        return PaymentError(code or "invalid_request", permanent=True)
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        logger.error("Stripe refused the secret key: %s", type(exc).__name__)
        return PaymentError("processor_misconfigured", permanent=True)
    # stripe.APIError: Stripe failed (5xx); the same key will say what became of the request.
    return PaymentError("processor_error", permanent=False)


def _stored(payment_method) -> StoredCard:
    card = payment_method.card
    return StoredCard(
        token=payment_method.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=int(card.exp_month),
        exp_year=int(card.exp_year),
    )


class StripeBackend(BasePaymentBackend):
    def __init__(self, **options):
        super().__init__(**options)
        secret_key = options.get("secret_key")
        if not secret_key:
            raise ImproperlyConfigured(
                "The Stripe payment backend needs GROUPFLIER_PAYMENT_BACKEND_OPTIONS "
                '{"secret_key": "sk_..."}'
            )
        if "debug" in (stripe.log, os.environ.get("STRIPE_LOG")):
            # stripe-python then prints request bodies (card numbers) to stderr, past any filter.
            raise ImproperlyConfigured(
                "STRIPE_LOG=debug prints card numbers; use LOG_LEVEL=DEBUG, which is redacted"
            )
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": options.get("api_base", "https://api.stripe.com")},
            http_client=stripe.RequestsClient(timeout=float(options.get("timeout", 30))),
            max_network_retries=int(options.get("max_network_retries", 2)),
        )

    def create_customer(self, *, email, idempotency_key):
        try:
            customer = self.client.v1.customers.create(
                params={"email": email} if email else {},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _payment_error(exc) from None
        return customer.id

    def store_card(
        self, *, customer: str, number: CardNumber, expiration: Expiration, postal_code: str
    ) -> StoredCard:
        params = {
            "type": "card",
            "card": {
                "number": number.digits,
                "exp_month": expiration.month,
                "exp_year": expiration.year,
            },
        }
        if postal_code:
            params["billing_details"] = {"address": {"postal_code": postal_code}}
        try:
            created = self.client.v1.payment_methods.create(params=params)
        except stripe.StripeError as exc:
            # `from None`: the library's exception holds the request, number and all.
            raise _payment_error(exc) from None
        return self.attach_payment_method(customer=customer, token=created.id)

    def attach_payment_method(self, *, customer, token):
        try:
            attached = self.client.v1.payment_methods.attach(token, params={"customer": customer})
        except stripe.StripeError as exc:
            raise _payment_error(exc) from None
        return _stored(attached)

    def forget_card(self, *, customer, token):
        try:
            self.client.v1.payment_methods.detach(token)
        except stripe.StripeError as exc:
            raise _payment_error(exc) from None

    def charge(self, *, customer, token, amount, currency, idempotency_key, description):
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": customer,
                    "payment_method": token,
                    "off_session": True,
                    "confirm": True,
                    "description": description,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _payment_error(exc) from None
        if intent.status != "succeeded":
            # Off-session card payments settle at once or fail; anything else is not money yet.
            raise PaymentError(f"payment_{intent.status}", permanent=True)
        return intent.id

    def refund(self, *, payment, amount, idempotency_key):
        try:
            refund = self.client.v1.refunds.create(
                params={"payment_intent": payment, "amount": amount},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _payment_error(exc) from None
        if refund.status == "failed":
            raise PaymentError("refund_failed", permanent=True)
        return refund.id


# The short name stripe in settings stands for this class.
Backend = StripeBackend
