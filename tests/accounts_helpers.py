"""Helpers shared by the accounts and billing tests."""

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Account, LedgerEntry
from tests.conftest import assert_ok

VISA = "4242424242424242"


def expiration(years_ahead=2, month=6) -> str:
    return f"{timezone.now().year + years_ahead}-{month:02d}"


def account_set(api, person, **params):
    """/account/set as ``person``, with an email and zip unless ``params`` say otherwise."""
    return api(
        "account/set", sid=person.sid, **{"email": "mom@example.com", "zip": "94110", **params}
    )


def set_card(api, person, number=VISA, cc_expiration=None, **extra) -> dict:
    return assert_ok(
        account_set(
            api, person, cc_number=number, cc_expiration=cc_expiration or expiration(), **extra
        )
    )


def account_of(person) -> Account:
    return Account.objects.get(member__number=person.number)


def assert_ledger_consistent(account: Account) -> None:
    """The balance is the sum of the ledger, and each entry's balance_after follows the last."""
    account.refresh_from_db()
    entries = list(LedgerEntry.objects.filter(account=account).order_by("id"))
    total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    assert account.balance == (total or 0)
    running = 0
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running, (entry, running)
