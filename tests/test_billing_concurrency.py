"""The balance equals the sum of the ledger under concurrent debits and charges (SPEC §5), and
simultaneous submits of one charge charge once. Real threads, each with its own PostgreSQL
connection, on committed data."""

import threading
import time

import pytest
from django.db import connection, connections

from accounts import actions, billing
from accounts.cards import Expiration, parse_card_number
from accounts.models import Account, Charge, LedgerEntry
from accounts.payments.sandbox import SandboxBackend
from groupflier.api.errors import ApiError
from tests.accounts_helpers import VISA, assert_ledger_consistent
from tests.conftest import make_active_group

DEBIT_THREADS, DEBITS_EACH, SHARED_REFERENCES = 6, 20, 10


def run_together(jobs):
    """Start every job at once, each in its own thread with its own connection."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            barrier.wait(timeout=30)
            job()
        except Exception as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


@pytest.fixture
def account(transactional_db):
    assert connection.vendor == "postgresql", "row locks are what this test is about"
    group = make_active_group("Family", "Mom", "+14155550101", [("Dad", "+14155550102")]).group
    card = actions.NewCard(number=parse_card_number(VISA), expiration=Expiration(2099, 1))
    actions.update_account(group.owner, email="mom@example.com", zip_code="94110", card=card)
    return Account.objects.get(member=group.owner)


@pytest.fixture
def slow_processor(monkeypatch):
    """The processor takes a moment, as a real one does: simultaneous requests overlap."""
    real_charge = SandboxBackend.charge

    def charge(self, **kwargs):
        time.sleep(0.05)
        return real_charge(self, **kwargs)

    monkeypatch.setattr(SandboxBackend, "charge", charge)


def test_concurrent_debits_and_charges_keep_the_ledger_exact(account, slow_processor, settings):
    owner = account.member
    start = account.balance

    def debits(thread):
        def job():
            for n in range(DEBITS_EACH):
                hold(owner, f"hold:message:{thread}:{n}")
                if n < SHARED_REFERENCES:
                    # Every thread also holds for the same messages: a task run twice.
                    hold(owner, f"hold:message:shared:{n}")

        return job

    def charge(amount, key=""):
        return lambda: billing.charge_account(account, amount, idempotency_key=key)

    jobs = [debits(thread) for thread in range(DEBIT_THREADS)]
    jobs += [charge(1000, f"top-up-{n}") for n in range(3)]  # three separate top-ups
    jobs += [charge(2000) for _ in range(4)]  # one top-up, submitted four times at once
    jobs += [charge(1500, "same-key") for _ in range(2)]  # one top-up, its request retried
    run_together(jobs)

    debit_count = DEBIT_THREADS * DEBITS_EACH + SHARED_REFERENCES
    ledger = LedgerEntry.objects.filter(account=account)
    assert ledger.filter(kind="sms_debit").count() == debit_count
    assert sorted(ledger.filter(kind="charge").values_list("amount", flat=True)) == [
        1000,
        1000,
        1000,
        1500,
        2000,
    ]
    assert Charge.objects.filter(status="succeeded").count() == 5
    account.refresh_from_db()
    expected = start - debit_count * settings.GROUPFLIER_SMS_PRICE + 6500
    assert account.balance == expected
    assert account.type == Account.Type.PAID
    assert_ledger_consistent(account)


def test_concurrent_debits_take_an_account_below_zero_exactly(account, settings):
    settings.GROUPFLIER_SMS_PRICE = 7
    owner = account.member
    start = account.balance

    def job():
        for _ in range(25):
            hold(owner, "")

    run_together([job for _ in range(5)])
    account.refresh_from_db()
    assert account.balance == start - 5 * 25 * 7
    assert account.suspended
    assert_ledger_consistent(account)


def hold(owner, reference):
    # A notice's hold: not refused without cover, so the balance may go below zero.
    return billing.hold_parts(owner.pk, 1, reference=reference, required=False)


def test_parallel_sends_cannot_overdraw_an_account(account, settings):
    """Six sends to a 150-member group at once from a 500-penny trial account: only what the
    balance covers is accepted (SPEC §5), and the ledger still equals the balance."""
    settings.GROUPFLIER_SMS_PRICE = 2
    start = account.balance
    accepted, refused = [], []

    def send(n):
        def job():
            try:
                billing.hold_parts(account.member_id, 150, reference=f"hold:message:{n}")
                accepted.append(n)
            except ApiError as error:
                refused.append(error.subtype)

        return job

    run_together([send(n) for n in range(6)])
    account.refresh_from_db()
    assert len(accepted) == start // 300 and refused == ["balance"] * (6 - len(accepted))
    assert account.balance == start - 300 * len(accepted) >= 0
    assert_ledger_consistent(account)
