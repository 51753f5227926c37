"""Money in and out of accounts (SPEC §5): SMS debits, the suspension rule, card top-ups,
refunds and administrators' adjustments. Every balance change goes through
``accounts.ledger`` (``post_entry``; a message's hold, ``debit_if_covered``).

For the messaging pipeline:

    check_can_send(group)               raises ApiError(SUSPENDED) before a send is accepted
    hold_parts(owner, parts, ...)       holds a message's whole fan-out at acceptance, or
                                        raises ApiError(SUSPENDED, "balance") without cover
    settle_hold(owner, hold=.., parts)  gives back held parts that did not go (or takes more)
"""

import logging
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.ledger import debit_if_covered, post_entry
from accounts.models import Account, Charge, LedgerEntry
from accounts.payments.base import PaymentError, backend_path, get_backend
from groupflier.api.errors import ApiError, ErrorType

logger = logging.getLogger(__name__)

MIN_CHARGE, MAX_CHARGE = 1_000, 100_000  # pennies (the seed's /account/charge limits)
# Charges that may be ours to finish: a request still holding one has it locked.
UNSETTLED = (Charge.Status.PENDING, Charge.Status.FAILED)


# --- Sending ----------------------------------------------------------------------------------


def check_can_send(group) -> None:
    """Raise ``ApiError(SUSPENDED)`` when ``group`` may not send now (SPEC §5).

    A group is suspended by an administrator's switch on the group, or when its owner's trial
    or paid account has a balance of zero or less. The account is read afresh: the caller's
    copy may be older than the last debit.
    """
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_OF, [group.owner_id])
        row = cursor.fetchone()
    check_account_may_send(group.suspended, *(row[1:] if row else (None, None)))


_ACCOUNT_OF = f"SELECT id, type, balance FROM {Account._meta.db_table} WHERE member_id = %s"


def check_account_may_send(group_suspended: bool, account_type: str | None, balance) -> None:
    """``check_can_send`` for a caller that read the group's switch and its owner's account
    type and balance (None: the owner has no account) itself."""
    if group_suspended:
        raise ApiError(ErrorType.SUSPENDED)
    if account_type is not None and Account.is_suspended(account_type, balance):
        raise ApiError(ErrorType.SUSPENDED)


def holds(account_type: str | None) -> bool:
    """Whether an owner's account of this type (None: no account) pays for texts, so that a
    message's cost is held on it (``hold_parts``)."""
    return account_type is not None and account_type != Account.Type.FREE


def hold_parts(
    owner_id: int, parts: int, *, reference: str, note: str = "", required: bool = True
) -> LedgerEntry | None:
    """Hold the cost of ``parts`` SMS parts on the owner's account at acceptance (SPEC §5), as
    a debit named ``reference``, under the account's row lock: parallel sends take turns, so
    together they cannot overdraw it. Without cover (a balance below the cost) a ``required``
    hold raises ``ApiError(SUSPENDED, "balance")`` and changes nothing; a system notice's hold
    is not required and may take the balance below zero. Free accounts, owners without an
    account and free texts hold nothing (None)."""
    price = settings.GROUPFLIER_SMS_PRICE * parts
    if price <= 0:
        return None
    kind = LedgerEntry.Kind.SMS_DEBIT
    entry = debit_if_covered(owner_id, price, kind, note, reference, required=required)
    if entry is not None or not required:
        return entry
    # Nothing taken: a free account or none holds nothing; a paying one lacked the cover.
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_OF, [owner_id])
        row = cursor.fetchone()
    if row is None or not holds(row[1]):
        return None
    raise ApiError(ErrorType.SUSPENDED, "balance")


def settle_hold(
    owner_id: int | None, *, hold: str, parts: int, reference: str, note: str = ""
) -> LedgerEntry | None:
    """Give back ``parts`` held by the entry named ``hold`` (negative: take that many more),
    once per ``reference``. Nothing happens where nothing was held: a free account, an owner
    without one, a message accepted before holds."""
    if not parts or owner_id is None:
        return None
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(member_id=owner_id).first()
        if account is None or not account.ledger.filter(reference=hold).exists():
            return None
        kind = LedgerEntry.Kind.REFUND if parts > 0 else LedgerEntry.Kind.SMS_DEBIT
        amount = settings.GROUPFLIER_SMS_PRICE * parts
        return post_entry(account, kind, amount, note=note, reference=reference)


def posted(owner_id: int, reference: str) -> bool:
    """Whether the owner's account has the entry named ``reference``."""
    return LedgerEntry.objects.filter(account__member_id=owner_id, reference=reference).exists()


# --- Top-ups --------------------------------------------------------------------------------


def customer_key(account: Account) -> str:
    """The idempotency key for creating the account's customer at the processor: stable, so
    two requests racing to create it get one customer; keyed, so it gives nothing away."""
    digest = salted_hmac("groupflier.customer", str(account.pk), algorithm="sha256")
    return "gf-customer-" + digest.hexdigest()[:32]


def charge_account(account: Account, amount: int, *, idempotency_key: str = "") -> Charge:
    """/account/charge: take ``amount`` pennies from the card on file and credit them.

    A retried request does not charge twice:

    * with an ``idempotency_key``, the first request with that key is the only one: a
      repeat answers its outcome (a decline again as a decline); only a charge the processor
      could not complete is tried again, with the same processor key, so the processor replays
      a charge that did go through instead of making a second one;
    * without a key, a request for the same amount to the same card while an earlier one is
      under way, succeeded or could not complete, less than GROUPFLIER_CHARGE_RETRY_WINDOW ago,
      is taken as a retry of it (a double tap, or a client resending after a lost answer).
      A second top-up of the same amount inside the window needs a key, or a moment's wait.
      A declined request is not such a charge: trying again asks the processor again.
    """
    charge = _claim_charge(account, amount, idempotency_key)
    if charge.status in UNSETTLED:
        charge = _settle(charge)
    if charge.status in (Charge.Status.SUCCEEDED, Charge.Status.REFUNDED):
        return charge
    if charge.reason == "expired_card":
        raise ApiError(ErrorType.EXPIRED_CREDIT_CARD)
    raise ApiError(ErrorType.DECLINED, charge.reason or "declined")


@transaction.atomic
def _claim_charge(account: Account, amount: int, request_key: str) -> Charge:
    """The charge this request is about: an earlier one it repeats, or a new one.

    The account's row lock makes two simultaneous requests pick one charge between them.
    """
    account = Account.objects.select_for_update().get(pk=account.pk)
    if request_key:
        earlier = Charge.objects.filter(account=account, request_key=request_key).first()
        if earlier is not None:
            if earlier.amount != amount:
                raise ApiError(
                    ErrorType.BAD_REQUEST,
                    "idempotency_key was used for another amount",
                    http_status=400,
                )
            return earlier
    if account.type == Account.Type.FREE:
        # Free accounts are never charged (SPEC §5): nothing to top up.
        raise ApiError(ErrorType.DECLINED, "free_account")
    if not account.card_on_file(backend_path()):
        raise ApiError(ErrorType.NO_CREDIT_CARD)
    if account.card_expiration is None or account.card_expiration.has_passed():
        raise ApiError(ErrorType.EXPIRED_CREDIT_CARD)
    if not request_key:
        retried = (
            Charge.objects.filter(
                account=account,
                request_key="",
                amount=amount,
                card_token=account.card_token,
                status__in=(*UNSETTLED, Charge.Status.SUCCEEDED),
                created_at__gte=timezone.now() - settings.GROUPFLIER_CHARGE_RETRY_WINDOW,
            )
            .order_by("-id")
            .first()
        )
        if retried is not None:
            return retried
    return Charge.objects.create(
        account=account,
        amount=amount,
        request_key=request_key,
        processor_key=f"gf-charge-{secrets.token_hex(16)}",
        processor_customer=account.processor_customer,
        card_token=account.card_token,
        card_description=account.card_description,
    )


def _settle(charge: Charge) -> Charge:
    """Ask the processor for an unsettled charge and record the answer.

    The charge's row lock is held across the processor call: a concurrent request for the
    same charge waits here and then reads the outcome instead of calling again.
    """
    with transaction.atomic():
        charge = Charge.objects.select_for_update().get(pk=charge.pk)
        if charge.status not in UNSETTLED:
            return charge
        try:
            charge.payment_reference = get_backend().charge(
                customer=charge.processor_customer,
                token=charge.card_token,
                amount=charge.amount,
                currency=settings.GROUPFLIER_CURRENCY,
                idempotency_key=charge.processor_key,
                description=f"GroupFlier top-up, account {charge.account_id}",
            )
        except PaymentError as exc:
            charge.status = Charge.Status.DECLINED if exc.permanent else Charge.Status.FAILED
            charge.reason = exc.reason[:100]
            charge.save(update_fields=["status", "reason", "updated_at"])
            logger.info("Charge %s was not made: %s", charge.pk, exc.reason)
            return charge
        charge.status, charge.reason = Charge.Status.SUCCEEDED, ""
        charge.save(update_fields=["status", "reason", "payment_reference", "updated_at"])
        account = Account.objects.get(pk=charge.account_id)
        post_entry(
            account,
            LedgerEntry.Kind.CHARGE,
            charge.amount,
            note=charge.card_description,
            reference=f"charge:{charge.pk}",
        )
        # The first money paid makes a trial account a paid one.
        Account.objects.filter(pk=account.pk, type=Account.Type.TRIAL).update(
            type=Account.Type.PAID
        )
        logger.info("Charge %s of %s to account %s", charge.pk, charge.amount, account.pk)
        return charge


def resume_pending_charges(older_than=None) -> int:
    """Finish charges a dead process left PENDING, with their own processor keys (the periodic
    sweep). The processor replays the ones it had made, so each is credited once; ones that
    never reached it are made now, as the client asked. Returns how many were settled."""
    older_than = older_than or settings.GROUPFLIER_CHARGE_RESUME_AFTER
    stale = Charge.objects.filter(
        status=Charge.Status.PENDING, updated_at__lt=timezone.now() - older_than
    ).values_list("pk", flat=True)
    settled = 0
    for pk in stale:
        with transaction.atomic():
            # A charge a live request is settling is locked: skip it rather than wait.
            charge = (
                Charge.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=Charge.Status.PENDING)
                .first()
            )
            if charge is None:
                continue
            _settle(charge)
            settled += 1
    return settled


def refund_charge(charge: Charge) -> Charge:
    """Give a succeeded charge back in full through the processor, with its REFUND entry.

    Raises PaymentError when the processor refuses; a charge already refunded is left alone.
    """
    with transaction.atomic():
        charge = Charge.objects.select_for_update().get(pk=charge.pk)
        if charge.status != Charge.Status.SUCCEEDED:
            return charge
        charge.refund_reference = get_backend().refund(
            payment=charge.payment_reference,
            amount=charge.amount,
            idempotency_key=f"{charge.processor_key}-refund",
        )
        charge.status = Charge.Status.REFUNDED
        charge.save(update_fields=["status", "refund_reference", "updated_at"])
        post_entry(
            charge.account,
            LedgerEntry.Kind.REFUND,
            -charge.amount,
            note=f"Refund of {charge.card_description} charge",
            reference=f"refund:{charge.pk}",
        )
        return charge


# --- Administration -------------------------------------------------------------------------


def adjust_balance(account: Account, amount: int, note: str, *, by: str) -> LedgerEntry:
    """An administrator's correction of a balance, in pennies (negative to take away)."""
    if amount == 0:
        raise ValueError("An adjustment of nothing is not an entry")
    return post_entry(account, LedgerEntry.Kind.ADJUSTMENT, amount, note=f"{note} ({by})")
