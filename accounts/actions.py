"""Account rules behind the /account/* endpoints (SPEC §2, §5); money moves in accounts.billing."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction

from accounts import billing
from accounts.cards import ACCEPTED_BRANDS, CardNumber, Expiration
from accounts.ledger import post_entry
from accounts.models import Account, LedgerEntry
from accounts.payments.base import PaymentError, StoredCard, backend_path, get_backend
from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.schema import flag
from members.models import Member

logger = logging.getLogger(__name__)

# Processor reasons that say what was wrong with the card the client typed.
NUMBER_REASONS = {"incorrect_number", "invalid_number", "invalid_payment_method"}
EXPIRY_REASONS = {"expired_card", "invalid_expiry_month", "invalid_expiry_year"}


@dataclass
class NewCard:
    """A card as /account/set takes it: typed in (number and expiry) or tokenised by the client."""

    number: CardNumber | None = None
    expiration: Expiration | None = None
    payment_method: str | None = None


@transaction.atomic
def open_account(member: Member, email: str | None = None) -> tuple[Account, bool]:
    """The member's account, opened with the trial credit on their first group."""
    account, created = Account.objects.get_or_create(member=member)
    if created:
        if settings.GROUPFLIER_TRIAL_BALANCE:
            post_entry(
                account,
                LedgerEntry.Kind.TRIAL_CREDIT,
                settings.GROUPFLIER_TRIAL_BALANCE,
                reference="trial",
            )
    if email and not account.email:
        account.email = email
        account.save(update_fields=["email"])
    return account, created


def balance_of(account: Account) -> dict:
    """The `account` object of /member/groups and the fields of /account/balance."""
    return {
        "type": account.type,
        "balance": account.balance,
        "suspended": flag(account.suspended),
    }


def account_of(member: Member) -> Account:
    """The caller's account: members who have created no group have none (SPEC §2)."""
    account = Account.objects.filter(member=member).first()
    if account is None:
        raise ApiError(ErrorType.NO_ACCOUNT)
    return account


def set_password(member: Member, password: str) -> None:
    """/account/password: kept as a Django password hash; /member/login accepts it."""
    account = account_of(member)
    account.password = make_password(password)
    account.save(update_fields=["password"])


def update_account(member: Member, *, email: str, zip_code: str, card: NewCard | None) -> Account:
    """/account/set: the billing email and zip, and a new card on file when one is given.

    The card goes to the payment backend first; nothing is saved unless it is taken. Each
    account may submit a few cards an hour, so that it cannot be used to test stolen ones.
    """
    account = account_of(member)
    replaced_token = ""
    stored = None
    if card is not None:
        rate = settings.GROUPFLIER_THROTTLE_CARDS_PER_ACCOUNT
        if not throttles.consume("cards", str(account.pk), rate):
            raise ApiError(ErrorType.THROTTLE)
        backend = get_backend()
        if not account.card_on_file(backend_path()):
            account.card_token = ""  # a card of another backend cannot be charged or forgotten
        customer = _customer_of(account, email)
        stored = _store_card(backend, customer, card, zip_code)
        replaced_token = account.card_token
        account.card_token = stored.token
        account.card_brand = stored.brand
        account.card_last4 = stored.last4
        account.card_exp_month = stored.exp_month
        account.card_exp_year = stored.exp_year
        account.payment_backend = backend_path()
    account.email, account.zip = email, zip_code
    account.save(
        update_fields=[
            "email",
            "zip",
            "payment_backend",
            "card_token",
            "card_brand",
            "card_last4",
            "card_exp_month",
            "card_exp_year",
        ]
    )
    if replaced_token and replaced_token != account.card_token:
        _forget_quietly(account.processor_customer, replaced_token)
    return account


def _customer_of(account: Account, email: str) -> str:
    """The account's customer at the processor, created on its first card."""
    if account.processor_customer and account.payment_backend == backend_path():
        return account.processor_customer
    try:
        customer = get_backend().create_customer(
            email=email, idempotency_key=billing.customer_key(account)
        )
    except PaymentError as exc:
        raise _card_refused(exc) from None
    account.processor_customer, account.payment_backend = customer, backend_path()
    account.save(update_fields=["processor_customer", "payment_backend"])
    return customer


def _store_card(backend, customer: str, card: NewCard, zip_code: str) -> StoredCard:
    try:
        if card.payment_method:
            stored = backend.attach_payment_method(customer=customer, token=card.payment_method)
        else:
            stored = backend.store_card(
                customer=customer,
                number=card.number,
                expiration=card.expiration,
                postal_code=zip_code,
            )
    except PaymentError as exc:
        raise _card_refused(exc) from None
    # A typed number was checked before it left; a token's card is known only now.
    if stored.brand not in ACCEPTED_BRANDS:
        _forget_quietly(customer, stored.token)
        raise ApiError(ErrorType.INVALID_CC_TYPE)
    if stored.expiration.has_passed():
        _forget_quietly(customer, stored.token)
        raise ApiError(ErrorType.INVALID_CC_EXPIRATION)
    return stored


def _card_refused(exc: PaymentError) -> ApiError:
    if exc.reason in NUMBER_REASONS:
        return ApiError(ErrorType.INVALID_CC_NUMBER)
    if exc.reason in EXPIRY_REASONS:
        return ApiError(ErrorType.INVALID_CC_EXPIRATION)
    return ApiError(ErrorType.DECLINED, exc.reason)


def _forget_quietly(customer: str, token: str) -> None:
    # A card left on file at the processor costs nothing and is never charged again from
    # here; failing the member's request over it would be worse.
    try:
        get_backend().forget_card(customer=customer, token=token)
    except PaymentError as exc:
        logger.warning("Could not take card %s off file: %s", token, exc.reason)
