"""accounts.billing and accounts.ledger: the functions the messaging pipeline calls, the ledger
invariant, the sweep of unsettled charges, refunds and adjustments (SPEC §5)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts import actions, billing
from accounts.ledger import post_entry
from accounts.models import Account, Charge, LedgerEntry
from accounts.payments import base
from accounts.payments.base import PaymentError
from accounts.payments.sandbox import SandboxBackend
from groupflier.api.errors import ApiError, ErrorType
from groups.models import Group
from members.actions import get_or_create_member
from tests.accounts_helpers import account_of, assert_ledger_consistent, set_card

pytestmark = pytest.mark.django_db


# --- opening an account --------------------------------------------------------------------------


def test_a_new_account_gets_the_trial_credit_once(settings):
    settings.GROUPFLIER_TRIAL_BALANCE = 300
    member = get_or_create_member("+14155550150")
    account, created = actions.open_account(member)
    again, created_again = actions.open_account(member)
    assert (created, created_again, again.pk) == (True, False, account.pk)
    entry = account.ledger.get()
    assert (entry.kind, entry.amount, entry.balance_after) == ("trial_credit", 300, 300)
    assert (account.type, account.balance) == ("T", 300)


def test_without_a_trial_credit_a_new_account_starts_suspended(settings):
    settings.GROUPFLIER_TRIAL_BALANCE = 0
    account, _ = actions.open_account(get_or_create_member("+14155550150"))
    assert not account.ledger.exists()
    assert account.suspended


# --- hold_parts and settle_hold (SPEC §5: the cost is held at acceptance) ---------------------


def hold(owner, parts=1, reference="", **kwargs):
    return billing.hold_parts(owner.pk, parts, reference=reference, **kwargs)


def test_parts_are_held_at_the_configured_price(family, settings):
    settings.GROUPFLIER_SMS_PRICE = 3
    owner = family.group.owner
    entry = hold(owner, 2, reference="hold:message:1", note="Family, to Dad")
    account = account_of(family.owner)
    assert (entry.kind, entry.amount, entry.reference) == ("sms_debit", -6, "hold:message:1")
    assert entry.note == "Family, to Dad"
    assert account.balance == settings.GROUPFLIER_TRIAL_BALANCE - 6
    assert_ledger_consistent(account)


def test_a_hold_is_posted_once_however_often_its_task_runs(family, settings):
    first = hold(family.group.owner, reference="hold:message:7")
    again = hold(family.group.owner, reference="hold:message:7")
    assert again.pk == first.pk
    account = account_of(family.owner)
    assert account.balance == settings.GROUPFLIER_TRIAL_BALANCE - settings.GROUPFLIER_SMS_PRICE
    assert account.ledger.filter(kind="sms_debit").count() == 1


def test_without_cover_a_hold_is_refused_and_changes_nothing(family, settings):
    settings.GROUPFLIER_SMS_PRICE = 100
    with pytest.raises(ApiError) as refused:
        hold(family.group.owner, 6, reference="hold:message:1")
    assert (refused.value.error_type, refused.value.subtype) == (ErrorType.SUSPENDED, "balance")
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE
    # A system notice is held all the same: the group's own news is not refused.
    hold(family.group.owner, 6, reference="hold:message:2", required=False)
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE - 600
    assert account_of(family.owner).suspended


def test_free_accounts_hold_nothing(family):
    account = account_of(family.owner)
    Account.objects.filter(pk=account.pk).update(type=Account.Type.FREE)
    assert hold(family.group.owner, 500, reference="hold:message:1") is None
    assert not account.ledger.filter(kind="sms_debit").exists()


def test_nothing_to_hold_without_an_account_or_a_price(family, settings):
    assert hold(family.outsider.member) is None
    settings.GROUPFLIER_SMS_PRICE = 0
    assert hold(family.group.owner) is None
    assert not LedgerEntry.objects.filter(kind="sms_debit").exists()


def test_a_settlement_gives_back_once_and_only_what_was_held(family, settings):
    owner = family.group.owner
    hold(owner, 4, reference="hold:message:1")
    for _ in range(2):
        billing.settle_hold(owner.pk, hold="hold:message:1", parts=1, reference="refund:d:1")
    billing.settle_hold(owner.pk, hold="hold:message:1", parts=-2, reference="settle:message:1")
    # Nothing was held for message 2 (accepted free, or before holds): nothing to give back.
    billing.settle_hold(owner.pk, hold="hold:message:2", parts=3, reference="refund:d:2")
    account = account_of(family.owner)
    price = settings.GROUPFLIER_SMS_PRICE
    assert account.balance == settings.GROUPFLIER_TRIAL_BALANCE - (4 - 1 + 2) * price
    assert_ledger_consistent(account)


# --- check_can_send ----------------------------------------------------------------------------


def suspended_error(group):
    with pytest.raises(ApiError) as raised:
        billing.check_can_send(group)
    return raised.value


def test_a_group_with_credit_can_send(family):
    billing.check_can_send(family.group)


@pytest.mark.parametrize("account_type", [Account.Type.TRIAL, Account.Type.PAID])
def test_an_owner_at_zero_or_below_cannot_send(family, account_type):
    account = account_of(family.owner)
    Account.objects.filter(pk=account.pk).update(type=account_type)
    group = Group.objects.select_related("owner__account").get(pk=family.group.pk)
    billing.adjust_balance(account, -account.balance, "to zero", by="test")
    # The group's cached account still shows the credit; the check reads afresh.
    assert group.owner.account.balance > 0
    error = suspended_error(group)
    assert (error.error_type, error.subtype) == (ErrorType.SUSPENDED, None)
    billing.adjust_balance(account, 1, "back above zero", by="test")
    billing.check_can_send(group)


def test_a_free_owner_always_sends(family):
    account = account_of(family.owner)
    Account.objects.filter(pk=account.pk).update(type=Account.Type.FREE)
    billing.adjust_balance(account, -10_000, "deep below zero", by="test")
    billing.check_can_send(family.group)


def test_an_administrator_suspended_group_cannot_send(family):
    Group.objects.filter(pk=family.group.pk).update(suspended=True)
    family.group.refresh_from_db()
    assert suspended_error(family.group).error_type == ErrorType.SUSPENDED


# --- the ledger ----------------------------------------------------------------------------------


def test_post_entry_by_reference_returns_the_first_posting(family):
    account = account_of(family.owner)
    first = post_entry(account, LedgerEntry.Kind.ADJUSTMENT, 50, reference="x")
    second = post_entry(account, LedgerEntry.Kind.ADJUSTMENT, 70, reference="x")
    assert second.pk == first.pk and second.amount == 50
    assert account.balance == first.balance_after
    assert_ledger_consistent(account)


def test_saving_a_stale_account_does_not_write_back_its_balance(family):
    stale = account_of(family.owner)
    hold(family.group.owner)
    stale.email = "new@example.com"
    stale.save()
    account = account_of(family.owner)
    assert account.email == "new@example.com"
    assert_ledger_consistent(account)


def test_adjustments(family):
    account = account_of(family.owner)
    entry = billing.adjust_balance(account, -125, "goodwill reversal", by="admin")
    assert (entry.kind, entry.amount, entry.note) == (
        "adjustment",
        -125,
        "goodwill reversal (admin)",
    )
    with pytest.raises(ValueError):
        billing.adjust_balance(account, 0, "nothing", by="admin")
    assert_ledger_consistent(account)


# --- charges a dead process left behind --------------------------------------------------------


def test_the_sweep_finishes_a_charge_left_pending(api, family, settings):
    set_card(api, family.owner)
    account = account_of(family.owner)
    # A request that claimed its charge and died before the processor answered.
    pending = billing._claim_charge(account, 2500, "")
    assert billing.resume_pending_charges() == 0  # too fresh: its request may still be running
    Charge.objects.filter(pk=pending.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    from accounts.tasks import resume_pending_charges

    assert resume_pending_charges.delay().get() == 1
    pending.refresh_from_db()
    assert pending.status == "succeeded"
    account.refresh_from_db()
    assert (account.balance, account.type) == (settings.GROUPFLIER_TRIAL_BALANCE + 2500, "P")
    assert billing.resume_pending_charges(older_than=timedelta(0)) == 0
    assert account.ledger.filter(kind="charge").count() == 1
    assert_ledger_consistent(account)


def test_a_retry_finishes_a_charge_whose_request_died(api, family, settings):
    set_card(api, family.owner)
    account = account_of(family.owner)
    pending = billing._claim_charge(account, 2500, "k")
    charged = billing.charge_account(account, 2500, idempotency_key="k")
    assert charged.pk == pending.pk and charged.status == "succeeded"
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE + 2500


# --- refunds -----------------------------------------------------------------------------------


def test_a_refund_gives_the_charge_back_and_debits_it(api, family, settings):
    set_card(api, family.owner)
    account = account_of(family.owner)
    charge = billing.charge_account(account, 3000)
    refunded = billing.refund_charge(charge)
    assert refunded.status == "refunded" and refunded.refund_reference.startswith("sandbox_re_")
    entry = account.ledger.get(kind="refund")
    assert (entry.amount, entry.reference) == (-3000, f"refund:{charge.pk}")
    assert billing.refund_charge(charge).status == "refunded"  # a second refund does nothing
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE
    assert_ledger_consistent(account)


def test_a_refund_the_processor_refuses_changes_nothing(api, family, monkeypatch):
    set_card(api, family.owner)
    charge = billing.charge_account(account_of(family.owner), 3000)

    def refuse(self, **kwargs):
        raise PaymentError("charge_already_refunded", permanent=True)

    monkeypatch.setattr(SandboxBackend, "refund", refuse)
    with pytest.raises(PaymentError):
        billing.refund_charge(charge)
    charge.refresh_from_db()
    assert charge.status == "succeeded"
    assert not LedgerEntry.objects.filter(kind="refund").exists()


# --- backends by dotted path ---------------------------------------------------------------------


def test_the_backend_is_chosen_by_dotted_path(settings):
    assert isinstance(base.get_backend(), SandboxBackend)
    settings.GROUPFLIER_PAYMENT_BACKEND = "accounts.payments.nowhere.Backend"
    with pytest.raises(ImproperlyConfigured, match="cannot be imported"):
        base.get_backend()
    settings.GROUPFLIER_PAYMENT_BACKEND = "accounts.models.Account"
    with pytest.raises(ImproperlyConfigured, match="is not a BasePaymentBackend"):
        base.get_backend()


def test_a_card_of_another_backend_counts_as_absent(api, family, settings):
    set_card(api, family.owner)
    Account.objects.filter(member__number=family.owner.number).update(
        payment_backend="accounts.payments.stripe.StripeBackend"
    )
    with pytest.raises(ApiError) as raised:
        billing.charge_account(account_of(family.owner), 2000)
    assert raised.value.error_type == ErrorType.NO_CREDIT_CARD
    # A new card goes to the configured backend, under a customer of its own.
    set_card(api, family.owner)
    account = account_of(family.owner)
    assert account.payment_backend == settings.GROUPFLIER_PAYMENT_BACKEND
    assert account.processor_customer.startswith("sandbox_cus_")
    billing.charge_account(account, 2000)
