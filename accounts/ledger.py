"""The only way an account's balance changes (SPEC §5: the balance equals the sum of the ledger)."""

from django.db import transaction
from django.db.models import F

from accounts.models import Account, LedgerEntry


@transaction.atomic
def post_entry(account: Account, kind: str, amount: int, note: str = "") -> LedgerEntry:
    # The row lock orders concurrent postings, so balance_after is exact for each entry.
    Account.objects.select_for_update().filter(pk=account.pk).update(balance=F("balance") + amount)
    account.refresh_from_db(fields=["balance"])
    return LedgerEntry.objects.create(
        account=account, kind=kind, amount=amount, balance_after=account.balance, note=note
    )
