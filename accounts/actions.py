from django.conf import settings
from django.db import transaction

from accounts.ledger import post_entry
from accounts.models import Account, LedgerEntry
from members.models import Member


@transaction.atomic
def open_account(member: Member, email: str | None = None) -> tuple[Account, bool]:
    """The member's account, opened with the trial credit on their first group."""
    account, created = Account.objects.get_or_create(member=member)
    if created:
        if settings.GROUPFLIER_TRIAL_BALANCE:
            post_entry(account, LedgerEntry.Kind.TRIAL_CREDIT, settings.GROUPFLIER_TRIAL_BALANCE)
    if email and not account.email:
        account.email = email
        account.save(update_fields=["email"])
    return account, created


def describe_account(member: Member) -> dict | None:
    account = Account.objects.filter(member=member).first()
    if account is None:
        return None
    return {
        "type": account.type,
        "balance": account.balance,
        "suspended": 1 if account.suspended else 0,
    }
